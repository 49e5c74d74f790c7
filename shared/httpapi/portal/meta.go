package portal

import (
	"errors"
	"html"
	"regexp"
)

// headStart finds the start tag of an HTML document's head.
var headStart = regexp.MustCompile(`(?i)<head(\s[^>]*)?>`)

// WithMetaCSP returns page with a <meta http-equiv="Content-Security-Policy">
// element holding policy placed first in its head, before anything the
// policy governs. It fails on a page without a head.
func WithMetaCSP(page []byte, policy string) ([]byte, error) {
	loc := headStart.FindIndex(page)
	if loc == nil {
		return nil, errors.New("portal: index.html has no <head>")
	}
	meta := `<meta http-equiv="Content-Security-Policy" content="` + html.EscapeString(policy) + `">`
	out := make([]byte, 0, len(page)+len(meta))
	out = append(out, page[:loc[1]]...)
	out = append(out, meta...)
	return append(out, page[loc[1]:]...), nil
}
