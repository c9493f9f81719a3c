package commands

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// templateFuncs are the extra functions of --format templates.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"prettyjson": func(v any) (string, error) {
		b, err := json.MarshalIndent(v, "", "    ")
		return string(b), err
	},
}

// rowTemplate is a parsed `--format` value: a leading "table" asks for a
// header row and aligned columns.
type rowTemplate struct {
	tmpl  *template.Template
	table bool
}

func parseRowTemplate(format string) (*rowTemplate, error) {
	rt := &rowTemplate{}
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		rt.table = true
		format = rest
	}
	format = strings.TrimSpace(format)
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, err
	}
	rt.tmpl = t
	return rt, nil
}

// render writes the header (table mode) and one line per row. Output is
// buffered: the tabwriter writes every cell and its padding separately,
// which would be one system call each on an unbuffered stdout.
func (rt *rowTemplate) render(w io.Writer, header any, rows []any) error {
	bw := bufio.NewWriterSize(w, 64*1024)
	out := io.Writer(bw)
	var tw *tabwriter.Writer
	if rt.table {
		tw = tabwriter.NewWriter(bw, 5, 1, 3, ' ', 0)
		out = tw
		if err := rt.tmpl.Execute(out, header); err != nil {
			return err
		}
		io.WriteString(out, "\n")
	}
	for _, row := range rows {
		if err := rt.tmpl.Execute(out, row); err != nil {
			// What was rendered so far is still shown.
			if tw != nil {
				tw.Flush()
			}
			bw.Flush()
			return err
		}
		io.WriteString(out, "\n")
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return bw.Flush()
}
