package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/medshare/medshare/shared/blob/cdnblob"
)

const cdnKeyUsage = `usage:
  medshare cdn-key generate --private-key FILE [--public-key FILE]
      writes a new RSA 2048 private key to FILE (mode 0600, never overwritten)
      and its public key in PEM to the other FILE, and prints the public key
      on one line (base64 DER), the value of the stack's context
      chatCdnPublicKey or chatCdnNextPublicKey
  medshare cdn-key put --secret ARN --key-pair-id ID --private-key FILE [--public-key FILE]
      stores the private key and the id CloudFront gave its public key in the
      stack's secret (output CdnKeySecretArn), after checking the key against
      the public key when given; chat-signed-url reads it at its next cold start`

// cdnKey creates and stores the key pair that signs chat images' CloudFront
// URLs (docs/DEPLOY.md, "Chat images through CloudFront").
func cdnKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(cdnKeyUsage)
	}
	switch args[0] {
	case "generate":
		return cdnKeyGenerate(args[1:], stdout, stderr)
	case "put":
		return cdnKeyPut(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("cdn-key: unknown command %q\n%s", args[0], cdnKeyUsage)
}

func cdnKeyGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cdn-key generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("private-key", "", "file to write the private key to (PKCS#8 PEM, mode 0600)")
	pubOut := fs.String("public-key", "", "optional: file to write the public key to (PEM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("cdn-key generate: --private-key FILE is required\n" + cdnKeyUsage)
	}
	key, err := rsa.GenerateKey(rand.Reader, cdnblob.KeyBits)
	if err != nil {
		return fmt.Errorf("cdn-key generate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("cdn-key generate: %w", err)
	}
	pub, err := cdnblob.PublicKeyPEM(key)
	if err != nil {
		return fmt.Errorf("cdn-key generate: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("cdn-key generate: %w", err)
	}
	// O_EXCL: an existing key, perhaps the one in use, is never replaced.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cdn-key generate: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("cdn-key generate: write %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cdn-key generate: write %s: %w", *out, err)
	}
	if *pubOut != "" {
		if err := os.WriteFile(*pubOut, pub, 0o644); err != nil {
			return fmt.Errorf("cdn-key generate: %w", err)
		}
	}
	// One line, so that it fits `make deploy CDK_CONTEXT='-c key=value'`,
	// which a PEM's line breaks would split.
	_, err = fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(pubDER))
	return err
}

// secretsPutter is the part of the Secrets Manager client that put calls.
type secretsPutter interface {
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

func cdnKeyPut(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cdn-key put", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "ARN of the stack's signing key secret (output CdnKeySecretArn)")
	id := fs.String("key-pair-id", "", "the id CloudFront gave the public key (output CdnPublicKeyId or CdnNextPublicKeyId)")
	privFile := fs.String("private-key", "", "the private key file that cdn-key generate wrote")
	pubFile := fs.String("public-key", "", "optional: the public key given to the stack, to check the private key against")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" || *id == "" || *privFile == "" || fs.NArg() > 0 {
		return errors.New("cdn-key put: --secret, --key-pair-id and --private-key are required\n" + cdnKeyUsage)
	}
	b, err := os.ReadFile(*privFile)
	if err != nil {
		return fmt.Errorf("cdn-key put: %w", err)
	}
	priv, err := cdnblob.ParsePrivateKey(b)
	if err != nil {
		return fmt.Errorf("cdn-key put: %s: %w", *privFile, err)
	}
	if *pubFile != "" {
		pb, err := os.ReadFile(*pubFile)
		if err != nil {
			return fmt.Errorf("cdn-key put: %w", err)
		}
		block, _ := pem.Decode(pb)
		if block == nil {
			return fmt.Errorf("cdn-key put: %s is not PEM", *pubFile)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil || !priv.PublicKey.Equal(pub) {
			return fmt.Errorf("cdn-key put: %s is not the public key of %s", *pubFile, *privFile)
		}
	}
	value, err := cdnblob.SigningKey{KeyPairID: *id, PrivateKey: priv}.Marshal()
	if err != nil {
		return fmt.Errorf("cdn-key put: %w", err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("cdn-key put: aws config: %w", err)
	}
	return putSigningKey(ctx, secretsmanager.NewFromConfig(cfg), *secret, string(value), stdout)
}

func putSigningKey(ctx context.Context, api secretsPutter, secret, value string, stdout io.Writer) error {
	out, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secret), SecretString: aws.String(value)})
	if err != nil {
		return fmt.Errorf("cdn-key put: %s: %w", secret, err)
	}
	fmt.Fprintf(stdout, "stored the signing key in %s (version %s); chat-signed-url reads it at its next cold start\n",
		aws.ToString(out.ARN), aws.ToString(out.VersionId))
	return nil
}
