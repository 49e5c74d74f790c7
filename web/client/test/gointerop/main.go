// Command gointerop is the Go side of the TypeScript client's
// interoperability tests (web/client/test): it seals and opens HPKE messages
// with Go's crypto/hpke, and uploads and views photos with the Go client
// package, so the Node tests can check both directions. Every command prints
// one JSON object; binary values are standard base64.
//
//	gointerop keygen -kem K
//	gointerop seal -kem K -public B64 -info B64 -plaintext B64
//	gointerop open -kem K -private B64 -info B64 -sealed B64
//	gointerop upload -url U -token T -angle A -content-type C -in FILE [-file-name N] [-notes N]
//	gointerop view -url U -token T -share ID -photo ID -kem K [-metadata B64]
package main

import (
	"context"
	"crypto/hpke"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/medshare/medshare/client"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gointerop:", err)
		os.Exit(1)
	}
}

func run(args []string) (err error) {
	defer func() {
		if r := recover(); r != nil { // a bad base64 flag
			err = fmt.Errorf("%v", r)
		}
	}()
	if len(args) == 0 {
		return errors.New("usage: gointerop keygen|seal|open|upload|view [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	kemFlag := fs.String("kem", "", "HPKE KEM id (decimal or 0x hex)")
	public := fs.String("public", "", "public key")
	private := fs.String("private", "", "private key (crypto/hpke's Bytes)")
	info := fs.String("info", "", "HPKE info")
	plaintext := fs.String("plaintext", "", "plaintext")
	sealed := fs.String("sealed", "", "enc || ciphertext")
	baseURL := fs.String("url", "", "the server")
	token := fs.String("token", "", "bearer token")
	angle := fs.String("angle", "", "photo angle")
	contentType := fs.String("content-type", "", "photo content type")
	in := fs.String("in", "", "file to upload")
	fileName := fs.String("file-name", "", "metadata file_name")
	notes := fs.String("notes", "", "metadata notes")
	share := fs.String("share", "", "share id")
	photo := fs.String("photo", "", "photo id")
	metadata := fs.String("metadata", "", "the photo's encrypted metadata, to open with its data key")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	b64 := func(name, s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			panic(fmt.Sprintf("-%s: %v", name, err))
		}
		return b
	}
	var kem hpke.KEM
	var kemID uint16
	if *kemFlag != "" {
		id, err := strconv.ParseUint(*kemFlag, 0, 16)
		if err != nil {
			return fmt.Errorf("-kem: %w", err)
		}
		kemID = uint16(id)
		if kem, err = hpke.NewKEM(kemID); err != nil {
			return err
		}
	}
	suite := func() (hpke.KDF, hpke.AEAD) { return hpke.HKDFSHA256(), hpke.AES256GCM() }
	ctx := context.Background()
	out := map[string]any{}

	switch args[0] {
	case "keygen":
		sk, err := kem.GenerateKey()
		if err != nil {
			return err
		}
		raw, err := sk.Bytes()
		if err != nil {
			return err
		}
		out["private"], out["public"] = raw, sk.PublicKey().Bytes()
	case "seal":
		pk, err := kem.NewPublicKey(b64("public", *public))
		if err != nil {
			return fmt.Errorf("public key: %w", err)
		}
		kdf, aead := suite()
		ct, err := hpke.Seal(pk, kdf, aead, b64("info", *info), b64("plaintext", *plaintext))
		if err != nil {
			return err
		}
		out["sealed"] = ct
	case "open":
		sk, err := kem.NewPrivateKey(b64("private", *private))
		if err != nil {
			return fmt.Errorf("private key: %w", err)
		}
		kdf, aead := suite()
		pt, err := hpke.Open(sk, kdf, aead, b64("info", *info), b64("sealed", *sealed))
		if err != nil {
			return err
		}
		out["plaintext"] = pt
	case "upload":
		data, err := os.ReadFile(*in)
		if err != nil {
			return err
		}
		var meta *client.PhotoMetadata
		if *fileName != "" || *notes != "" {
			meta = &client.PhotoMetadata{FileName: *fileName, Notes: *notes}
		}
		id, err := client.New(*baseURL, *token).UploadPhoto(ctx, *angle, *contentType, data, meta)
		if err != nil {
			return err
		}
		out["photo_id"] = id
	case "view":
		// A professional's device made here views one photo, step by step, so
		// that the data key also opens the photo's metadata.
		c := client.New(*baseURL, *token)
		dev, err := client.NewDevice(kemID)
		if err != nil {
			return err
		}
		a, err := c.OpenAccess(ctx, *share, dev)
		if err != nil {
			return fmt.Errorf("open access: %w", err)
		}
		k, err := c.IssueKey(ctx, a.AccessID, *photo)
		if err != nil {
			return fmt.Errorf("issue key: %w", err)
		}
		u, err := c.ClaimKey(ctx, k.KeyID)
		if err != nil {
			return fmt.Errorf("claim key: %w", err)
		}
		ct, err := c.Fetch(ctx, u.URL)
		if err != nil {
			return err
		}
		key, err := dev.OpenKey(k, a.AccessID)
		if err != nil {
			return err
		}
		plain, err := client.DecryptPhoto(ct, key)
		if err != nil {
			return err
		}
		out["photo"] = plain
		if *metadata != "" {
			m, err := client.DecryptMetadata(b64("metadata", *metadata), key)
			if err != nil {
				return err
			}
			out["metadata"] = m
		}
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
