// Package logging builds the slog logger both commands use, from two flags.
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// Options are the logging flags.
type Options struct {
	Level  string
	Format string
}

// Register adds --log-level and --log-format to fs.
func (o *Options) Register(fs *flag.FlagSet) {
	fs.StringVar(&o.Level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.Format, "log-format", "text", "text or json")
}

// Logger builds the logger, or says which flag is wrong. It never writes a URL's credentials (Redact).
func (o *Options) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.Level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", o.Level)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}
	switch o.Format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", o.Format)
}
