// Package flagenv lets every flag be set from the environment as GPUMETER_<FLAG_NAME>, turns parse errors into one
// line that names the flag (exit status 2, a usage error), warns about GPUMETER_ variables that look like a misspelt
// flag, and prints usage with flags written --flag, as the docs and errors write them.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/gpumeter/gpumeter/internal/logging"
	"github.com/gpumeter/gpumeter/internal/spelling"
)

// Prefix starts every environment variable name.
const Prefix = "GPUMETER_"

// EnvName is the variable that sets flag name: --kafka-brokers is GPUMETER_KAFKA_BROKERS.
func EnvName(name string) string {
	return Prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// ErrHelp is returned when the user asked for -h/--help; the usage has been printed.
var ErrHelp = flag.ErrHelp

// UsageError is a command line (or GPUMETER_ variable) that does not parse: an unknown flag or command, a value of
// the wrong type, a stray argument. ExitCode makes it exit status 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef is a UsageError with a formatted message.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// Environ lists the environment for the misspelt-variable check; os.Environ outside tests.
var Environ = os.Environ

// Warnings receives the misspelt-variable warnings; os.Stderr outside tests.
var Warnings io.Writer = os.Stderr

// Parse parses args, then applies the environment to every flag the command line did not set. Command-line flags win
// over the environment. lookup is os.LookupEnv outside tests. Errors are one line naming the flag or variable, and
// are UsageErrors. Asked for help (-h, --help), it prints the usage to usageOut (standard output in the binaries) and
// returns ErrHelp. A GPUMETER_ variable that sets no flag but is close to one's name is warned about (Misspelt).
func Parse(fs *flag.FlagSet, args []string, lookup func(string) (string, bool), usageOut io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(usageOut)
			fs.Usage()
			return ErrHelp
		}
		// The flag package writes "-name"; the docs write --name.
		msg := strings.NewReplacer("flag: -", "flag: --", "flag -", "flag --", "defined: -", "defined: --").Replace(err.Error())
		return UsageError{errors.New(msg)}
	}
	var names []string
	for _, kv := range Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := lookup(name); ok {
			names = append(names, name)
		}
	}
	for _, w := range Misspelt(fs, names) {
		fmt.Fprintln(Warnings, fs.Name()+": warning:", w)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v, ok := lookup(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, UsageError{fmt.Errorf("invalid value %q for %s (flag --%s): %v", v, env, f.Name, err)})
			}
		}
	})
	if fs.NArg() > 0 {
		errs = append(errs, Usagef("unexpected argument %q", fs.Arg(0)))
	}
	return errors.Join(errs...)
}

// Misspelt returns a warning for each of names (environment variable names) that has the GPUMETER_ prefix, sets none
// of fs's flags and is close to the variable of one of them (GPUMETER_KAFKA_BROKER: GPUMETER_KAFKA_BROKERS), naming
// that flag. Variables far from every flag are left alone: they may belong to another command or to the tests.
func Misspelt(fs *flag.FlagSet, names []string) []string {
	// Compared without the prefix every name shares, so that the typo's size counts against the flag's own name.
	flags := map[string]string{}
	var candidates []string
	fs.VisitAll(func(f *flag.Flag) {
		rest := strings.TrimPrefix(EnvName(f.Name), Prefix)
		flags[rest] = f.Name
		candidates = append(candidates, rest)
	})
	var out []string
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, Prefix)
		if !ok || localVariable(name) {
			continue
		}
		if _, ok := flags[rest]; ok {
			continue
		}
		if best, ok := spelling.Closest(rest, candidates); ok {
			out = append(out, fmt.Sprintf("%s sets nothing: did you mean %s (flag --%s)?", name, Prefix+best, flags[best]))
		}
	}
	sort.Strings(out)
	return out
}

// localVariable tells the project's own variables that are no flag of a binary: those of the tests (GPUMETER_TEST_…)
// and of the local services (deploy/local/services.sh: ports, state directory, broker heap, kept fault logs).
func localVariable(name string) bool {
	switch name {
	case Prefix + "LOCAL_DIR", Prefix + "KAFKA_HEAP", Prefix + "FAULTS_KEEP":
		return true
	}
	return strings.HasPrefix(name, Prefix+"TEST_") || strings.HasSuffix(name, "_PORT")
}

// Usage returns a usage function that prints synopsis and lists every flag as --name, with its default and its
// environment variable.
func Usage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nFlags (each also read from GPUMETER_<FLAG>, e.g. %s):\n", synopsis, EnvName("kafka-brokers"))
		PrintFlags(out, fs)
	}
}

// PrintFlags lists fs's flags as --name type, then the usage text and default on the next line.
func PrintFlags(out io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(out, line)
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "0s" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(out, "        %s [%s]\n", usage, EnvName(f.Name))
	})
}

// LookupEnv is os.LookupEnv, named here so commands read as flagenv.Parse(fs, args, flagenv.LookupEnv, ...).
var LookupEnv = os.LookupEnv

// List is a comma-separated flag value such as a broker list.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set replaces the list.
func (l *List) Set(v string) error {
	*l = nil
	for part := range strings.SplitSeq(v, ",") {
		if p := strings.TrimSpace(part); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// ExitCode is how a command ends: nothing and 0 for success or --help, else err to w, one problem per line (each
// prefixed with the program's name, credentials in URLs redacted), and 2 for a usage error (UsageError anywhere in
// err), 1 for any other. main passes the code to os.Exit, so exits stay in main.
func ExitCode(program string, err error, w io.Writer) int {
	if err == nil || errors.Is(err, ErrHelp) {
		return 0
	}
	for _, line := range strings.Split(logging.Redact(err.Error()), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintln(w, program+":", line)
		}
	}
	var usage UsageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}
