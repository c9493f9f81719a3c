package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"text/template"

	"github.com/urfave/cli/v3"
)

func (r *session) inspectCommand() *cli.Command {
	return &cli.Command{
		Name:        "inspect",
		Usage:       "Inspect information about a machine",
		Description: "Argument is a machine name.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Format the output using the given go template."},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			h, err := r.loadTarget(cmd)
			if err != nil {
				return err
			}
			format := cmd.String("format")
			if format == "" {
				b, err := json.MarshalIndent(h, "", "    ")
				if err != nil {
					return err
				}
				fmt.Fprintln(r.Stdout, string(b))
				return nil
			}
			tmpl, err := template.New("").Funcs(templateFuncs).Parse(format)
			if err != nil {
				return fmt.Errorf("template parsing error: %w", err)
			}
			// The template sees the JSON view of the host, as the
			// original: {{.Driver.SSHUser}}, {{.HostOptions...}}.
			b, err := json.Marshal(h)
			if err != nil {
				return err
			}
			var view map[string]any
			if err := json.Unmarshal(b, &view); err != nil {
				return err
			}
			if err := tmpl.Execute(r.Stdout, view); err != nil {
				return fmt.Errorf("template execution error: %w", err)
			}
			fmt.Fprintln(r.Stdout)
			return nil
		},
	}
}
