package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// demoServer serves the embedded runtime on a loopback port, as `make run`
// does (the same local server and handler, a fresh data directory), and
// puts tokens of the demo patient and professional in PATIENT_TOKEN and
// PRO_TOKEN, as `source .data/demo.env` would. It returns the server's URL
// and a function that stops it and restores the environment.
func demoServer() (string, func()) {
	dir, err := os.MkdirTemp("", "medshare-example-")
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	api := "http://" + srv.Listener.Addr().String()
	rt, err := embedded.Open(embedded.Options{DataDir: dir, PublicURL: api, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	srv.Config.Handler = rt.HTTPHandler(slog.New(slog.DiscardHandler))
	srv.Start()
	var restore []func()
	for name, who := range map[string]struct {
		sub  string
		role core.Role
	}{"PATIENT_TOKEN": {"demo-patient", core.RolePatient}, "PRO_TOKEN": {"demo-professional", core.RoleProfessional}} {
		tok, err := rt.Auth.Mint(who.sub, who.role, time.Hour)
		if err != nil {
			log.Fatal(err)
		}
		old, had := os.LookupEnv(name)
		os.Setenv(name, tok)
		restore = append(restore, func() {
			if had {
				os.Setenv(name, old)
			} else {
				os.Unsetenv(name)
			}
		})
	}
	return api, func() {
		srv.Close()
		rt.Close()
		os.RemoveAll(dir)
		for _, f := range restore {
			f()
		}
	}
}

// A patient uploads a photo, encrypted on the device, and shares it with a
// professional, who views it once on a device of their own; then the
// patient revokes the share. The lines between the README markers are the
// fragment of README.md's "Sharing a photo", which
// docs.TestReadmeGoFragmentIsTheExample keeps equal to it.
func Example_sharingAPhoto() {
	api, stop := demoServer()
	defer stop()
	ctx := context.Background()
	photo := bytes.Repeat([]byte("a photo of the crown "), 1000)

	// README: begin
	pat := client.New(api, os.Getenv("PATIENT_TOKEN"))
	id, err := pat.UploadPhoto(ctx, "CROWN", "image/jpeg", photo, nil) // encrypts on the device first
	sh, err := pat.CreateShare(ctx, client.ShareRequest{
		ProfessionalID: "demo-professional", PhotoIDs: []string{id},
		ExpiresIn: 3600, MaxViews: 3, ScreenshotPolicy: "warn", Purpose: "second opinion",
	}, rand.Text()) // a fresh idempotency key per share; reusing one with another body is 409

	pro := client.New(api, os.Getenv("PRO_TOKEN"))
	dev, err := client.NewDevice(0x647a)                    // ML-KEM-768+X25519; the private key stays here
	acc, err := pro.OpenAccess(ctx, sh.ShareID, dev)        // binds the session to this device's key
	plain, err := pro.ViewPhoto(ctx, dev, acc.AccessID, id) // one view: issue key, claim it, download, decrypt
	err = pat.RevokeShare(ctx, sh.ShareID)
	// From here no open, issue or claim succeeds, even for keys issued before;
	// a ciphertext URL already claimed stays valid for at most 60 seconds.
	// README: end

	// The fragment leaves its error checks out: every step must have
	// succeeded for the professional to hold the photo now.
	fmt.Println("the professional decrypted the photo:", bytes.Equal(plain, photo))
	fmt.Println("revoke:", err)
	share, err := pat.GetShare(ctx, sh.ShareID)
	fmt.Println("the share reads:", share.Status, share.ViewsUsed, "of", share.MaxViews, "views used,", err)
	_, err = pro.OpenAccess(ctx, sh.ShareID, dev)
	fmt.Println("open after revoke:", client.Code(err))
	_, err = pro.ViewPhoto(ctx, dev, acc.AccessID, id)
	fmt.Println("view after revoke:", client.Code(err))
	// Output:
	// the professional decrypted the photo: true
	// revoke: <nil>
	// the share reads: revoked 1 of 3 views used, <nil>
	// open after revoke: session_revoked
	// view after revoke: session_revoked
}
