package commands

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"
)

func init() {
	// Render help in the original's layout instead of the library's.
	cli.HelpPrinter = func(w io.Writer, _ string, data any) {
		cmd, ok := data.(*cli.Command)
		if !ok {
			return
		}
		if cmd.Root() == cmd {
			printAppHelp(w, cmd)
			return
		}
		printCommandHelp(w, cmd.Root().Name, cmd)
	}
}

func printAppHelp(w io.Writer, root *cli.Command) {
	fmt.Fprintf(w, "Usage: %s [OPTIONS] COMMAND [arg...]\n\n%s\n\nVersion: %s\n\n", root.Name, root.Usage, root.Version)
	fmt.Fprintf(w, "Author:\n  Docker Machine Contributors - <https://github.com/docker/machine>\n\nOptions:\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, f := range root.Flags {
		// The library appends its own help and version flags; they are
		// printed once below.
		if n := f.Names()[0]; n == "help" || n == "version" {
			continue
		}
		fmt.Fprintf(tw, "  %s\n", flagLine(f))
	}
	fmt.Fprintf(tw, "  --help, -h\tshow help\n  --version, -v\tprint the version\n")
	tw.Flush()
	fmt.Fprintf(w, "\nCommands:\n")
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range root.Commands {
		if c.Hidden {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\n", strings.Join(append([]string{c.Name}, c.Aliases...), ", "), c.Usage)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for more information on a command.\n", root.Name)
}

func printCommandHelp(w io.Writer, app string, c *cli.Command) error {
	fmt.Fprintf(w, "Usage: %s %s [OPTIONS] [arg...]\n\n%s\n", app, c.Name, c.Usage)
	if c.Description != "" {
		fmt.Fprintf(w, "\nDescription:\n   %s\n", c.Description)
	}
	var flags []cli.Flag
	for _, f := range c.Flags {
		if f.Names()[0] != "help" {
			flags = append(flags, f)
		}
	}
	if len(flags) > 0 {
		fmt.Fprintf(w, "\nOptions:\n\n")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, f := range flags {
			fmt.Fprintf(tw, "   %s\n", flagLine(f))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	return nil
}

// flagLine renders one flag like codegangsta/cli did:
// `--name, -n "default"<TAB>Usage [$ENV]`.
func flagLine(f cli.Flag) string {
	names := f.Names()
	parts := make([]string, len(names))
	for i, n := range names {
		if len(n) == 1 {
			parts[i] = "-" + n
		} else {
			parts[i] = "--" + n
		}
	}
	head := strings.Join(parts, ", ")
	var usage string
	var envs []string
	switch fl := f.(type) {
	case *cli.StringFlag:
		if fl.Value != "" {
			head += fmt.Sprintf(" %q", fl.Value)
		}
		usage, envs = fl.Usage, fl.Sources.EnvKeys()
	case *cli.IntFlag:
		head += fmt.Sprintf(" \"%d\"", fl.Value)
		usage, envs = fl.Usage, fl.Sources.EnvKeys()
	case *cli.DurationFlag:
		head += fmt.Sprintf(" %q", fl.Value.String())
		usage, envs = fl.Usage, fl.Sources.EnvKeys()
	case *cli.BoolFlag:
		usage, envs = fl.Usage, fl.Sources.EnvKeys()
	case *cli.StringSliceFlag:
		head += fmt.Sprintf(" [%s option %s option]", parts[0], parts[0])
		if len(fl.Value) > 0 {
			head = fmt.Sprintf("%s %q", strings.Join(parts, ", "), strings.Join(fl.Value, ","))
		}
		usage, envs = fl.Usage, fl.Sources.EnvKeys()
	}
	line := head + "\t" + usage
	if len(envs) > 0 {
		line += " [$" + strings.Join(envs, ", $") + "]"
	}
	return line
}
