// Package web holds the built portal: web/dist, which `make web` builds
// from web/portal and which is committed, embedded into the binary so that
// `medshare serve` needs only Go. shared/httpapi/portal serves it.
package web

import (
	"embed"
	"io/fs"
)

// dist is the built bundle. Files whose names start with "." or "_" are
// not embedded (go:embed's rule for a directory): the bundle has none.
//
//go:embed dist
var dist embed.FS

// Dist returns the built portal, index.html at its root and content-hashed
// files under assets/.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // "dist" is a valid path: cannot fail
		panic(err)
	}
	return sub
}
