// Package flagenv lets every flag be set from the environment as GPUMETER_<FLAG_NAME>, and turns parse errors into
// one line that names the flag.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gpumeter/gpumeter/internal/logging"
)

// Prefix starts every environment variable name.
const Prefix = "GPUMETER_"

// EnvName is the variable that sets flag name: --kafka-brokers is GPUMETER_KAFKA_BROKERS.
func EnvName(name string) string {
	return Prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// ErrHelp is returned when the user asked for -h/--help; the usage has been printed.
var ErrHelp = flag.ErrHelp

// Parse parses args, then applies the environment to every flag the command line did not set. Command-line flags win
// over the environment. lookup is os.LookupEnv outside tests. Errors are one line naming the flag or variable.
func Parse(fs *flag.FlagSet, args []string, lookup func(string) (string, bool), usageOut io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(usageOut)
			fs.Usage()
			return ErrHelp
		}
		return err // already names the flag: "invalid value "x" for flag -interval: ..."
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
				errs = append(errs, fmt.Errorf("invalid value %q for %s (flag --%s): %v", v, env, f.Name, err))
			}
		}
	})
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return errors.Join(errs...)
}

// Usage returns a usage function that lists every flag with its environment variable.
func Usage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nFlags (each also read from GPUMETER_<FLAG>, e.g. %s):\n", synopsis, EnvName("kafka-brokers"))
		fs.PrintDefaults()
	}
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
// prefixed with the program's name, credentials in URLs redacted), and 1. main passes the code to os.Exit, so exits
// stay in main.
func ExitCode(program string, err error, w io.Writer) int {
	if err == nil || errors.Is(err, ErrHelp) {
		return 0
	}
	for _, line := range strings.Split(logging.Redact(err.Error()), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintln(w, program+":", line)
		}
	}
	return 1
}
