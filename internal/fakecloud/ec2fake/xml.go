package ec2fake

import (
	"encoding/xml"
	"sort"
	"strconv"
	"strings"
)

// x is an XML element under construction: a name, text or children.
type x struct {
	name string
	text string
	kids []x
	leaf bool
}

func el(name string, kids ...x) x { return x{name: name, kids: kids} }

func tx(name, text string) x { return x{name: name, text: text, leaf: true} }

func bx(name string, b bool) x { return tx(name, strconv.FormatBool(b)) }

func ix(name string, i int) x { return tx(name, strconv.Itoa(i)) }

// set is a list: <name><item>…</item>…</name>.
func set(name string, items ...x) x { return x{name: name, kids: items} }

func item(kids ...x) x { return el("item", kids...) }

func (e x) write(b *strings.Builder) {
	b.WriteString("<" + e.name + ">")
	if e.leaf {
		_ = xml.EscapeText(b, []byte(e.text))
	} else {
		for _, k := range e.kids {
			k.write(b)
		}
	}
	b.WriteString("</" + e.name + ">")
}

// response renders an action's answer.
func response(action, requestID string, body ...x) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString("<" + action + `Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`)
	tx("requestId", requestID).write(&b)
	for _, k := range body {
		k.write(&b)
	}
	b.WriteString("</" + action + "Response>")
	return b.String()
}

// errorBody renders EC2's error document.
func errorBody(code, message, requestID string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	el("Response", set("Errors", el("Error", tx("Code", code), tx("Message", message))), tx("RequestID", requestID)).write(&b)
	return b.String()
}

// tagSet renders tags sorted by key.
func tagSet(tags map[string]string) x {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var items []x
	for _, k := range keys {
		items = append(items, item(tx("key", k), tx("value", tags[k])))
	}
	return set("tagSet", items...)
}
