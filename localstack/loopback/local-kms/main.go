// Command local-kms runs local-kms (github.com/nsmithuk/local-kms) on one
// loopback address. Upstream's main listens on ":"+$PORT, every interface;
// this is the same handler and database with the listener moved to -listen,
// which must be a loopback address. The upstream environment variables
// KMS_ACCOUNT_ID, KMS_REGION and KMS_DATA_PATH keep their meaning; seeding
// (KMS_SEED_PATH) is not supported: tests create their own keys.
package main

import (
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"

	kms "github.com/nsmithuk/local-kms/src"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("local-kms: %v", err)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8080", "loopback address to listen on (host:port)")
	flag.Parse()

	config.AWSAccountId = envOr("KMS_ACCOUNT_ID", "111122223333")
	config.AWSRegion = envOr("KMS_REGION", "us-east-1")
	if os.Getenv("KMS_DATA_PATH") == "" {
		return errors.New("KMS_DATA_PATH must name the directory for the key database")
	}
	dataPath, err := filepath.Abs(os.Getenv("KMS_DATA_PATH"))
	if err != nil {
		return err
	}
	config.DatabasePath = dataPath

	ln, err := listenLoopback(*listen)
	if err != nil {
		return err
	}
	db := data.NewDatabase(config.DatabasePath)
	defer db.Close()
	log.Printf("local-kms listening on %s, region %s, account %s, data in %s",
		ln.Addr(), config.AWSRegion, config.AWSAccountId, config.DatabasePath)
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kms.HandleRequest(w, r, db)
	}))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, errors.New("-listen must be a loopback IP address, got " + addr)
	}
	return net.Listen("tcp", addr)
}
