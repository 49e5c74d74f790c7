package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/backup"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// backupSummary is what `medshare backup` and `medshare restore` print.
type backupSummary struct {
	Archive   string    `json:"archive"`
	DataDir   string    `json:"data_dir"`
	Online    *bool     `json:"online,omitempty"` // backup: through the running server
	CreatedAt time.Time `json:"created_at"`
	Files     int       `json:"files"`
	Objects   int       `json:"objects"`
	Bytes     int64     `json:"bytes"`
	Replaced  string    `json:"replaced,omitempty"` // restore --force: where the old contents went
}

func summarize(archive, dir string, m backup.Manifest) backupSummary {
	s := backupSummary{Archive: archive, DataDir: dir, CreatedAt: m.CreatedAt, Files: len(m.Files), Bytes: m.Bytes()}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, embedded.BlobDir+"/") {
			s.Objects++
		}
	}
	return s
}

// backupCmd writes a backup of a data directory to --out: through the
// admin socket of the server running on it, or, when none runs, from the
// directory itself. The archive is written to a temporary file beside
// --out, read back and checked against its manifest, synced, and only then
// renamed to --out.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", ".data", "data directory of the server (running or not)")
	out := fs.String("out", "", "archive to write (a new file, mode 0600)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("backup: --out is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected arguments %q", fs.Args())
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("backup: %s exists; a backup never overwrites one", *out)
	}
	for _, name := range append([]string{embedded.DBFile}, embedded.KeyFiles...) {
		if _, err := os.Stat(filepath.Join(*dir, name)); err != nil {
			return fmt.Errorf("backup: %s is not a MedShare data directory: %w", *dir, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	online := true
	err = embedded.FetchBackup(ctx, *dir, tmp)
	if errors.Is(err, embedded.ErrNoServer) {
		online = false
		err = offlineBackup(ctx, *dir, tmp)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	m, err := backup.Verify(tmp, embedded.ArchiveName)
	if err != nil {
		return fmt.Errorf("backup: the archive written does not check: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// Link, not rename: fails rather than replace a file made meanwhile.
	if err := os.Link(tmp.Name(), *out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done = true
	os.Remove(tmp.Name())
	if d, err := os.Open(filepath.Dir(*out)); err == nil {
		d.Sync()
		d.Close()
	}
	s := summarize(*out, *dir, m)
	s.Online = &online
	return printJSON(stdout, s)
}

// offlineBackup backs up a data directory no server holds.
func offlineBackup(ctx context.Context, dir string, w io.Writer) error {
	rt, err := embedded.Open(embedded.Options{DataDir: dir, PublicURL: "http://127.0.0.1", Log: slog.New(slog.DiscardHandler)})
	if core.KindOf(err) == core.KindUnavailable {
		return fmt.Errorf("%w (a process holds the store but no server answers on %s: is an older medshare serve running? stop it, or upgrade it)", err, filepath.Join(dir, filepath.FromSlash(embedded.AdminSocket)))
	}
	if err != nil {
		return err
	}
	defer rt.Close()
	_, err = rt.Backup(ctx, w)
	return err
}

// restoreCmd brings a backup back into a data directory.
func restoreCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "archive written by medshare backup")
	dir := fs.String("data-dir", ".data", "data directory to restore into: absent or empty, unless --force")
	force := fs.Bool("force", false, "restore into a non-empty directory (no server may run on it); its contents are moved into DIR/.replaced-<time>")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" {
		return errors.New("restore: --from is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("restore: unexpected arguments %q", fs.Args())
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("restore: %s is not a regular file", *from)
	}
	res, err := embedded.Restore(f, *dir, *force, time.Now())
	if err != nil {
		return err
	}
	s := summarize(*from, *dir, res.Manifest)
	s.Replaced = res.Replaced
	return printJSON(stdout, s)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
