package testenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/runtime/embedded"
	"github.com/medshare/medshare/shared/store/boltstore"
)

// Stored is one value the runtime keeps at rest, exactly as it is stored.
type Stored struct {
	Where string // which item, attribute or object it is
	Data  []byte
}

// StoredItems returns every live item of the store, read the way the store
// keeps it: on bbolt every key and value of every bucket (nested ones
// included) of a snapshot; on DynamoDB every attribute of every item of a
// Scan of the table (strings and numbers as text, binary values as their
// bytes). Tests search it for what must never be kept.
func (e *Env) StoredItems() []Stored {
	e.T.Helper()
	if e.dumpItems == nil {
		e.T.Fatalf("%s runtime cannot list its stored items", e.Name)
	}
	return e.dumpItems(e.T)
}

// StoredObjects returns every object of the blob store: the files under the
// data directory's blobs/ (embedded), or every object of the bucket (AWS).
func (e *Env) StoredObjects() []Stored {
	e.T.Helper()
	if e.dumpObjects == nil {
		e.T.Fatalf("%s runtime cannot list its objects", e.Name)
	}
	return e.dumpObjects(e.T)
}

// DataDirFiles returns every regular file under the data directory as raw
// bytes: on the embedded runtime that includes medshare.db as a whole file
// (with the pages bbolt freed but has not reused), the keys and the blobs.
func (e *Env) DataDirFiles() []Stored {
	e.T.Helper()
	var out []Stored
	err := filepath.WalkDir(e.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.DataDir, path)
		out = append(out, Stored{Where: "file " + rel, Data: b})
		return nil
	})
	if err != nil {
		e.T.Fatalf("read data directory: %v", err)
	}
	return out
}

// boltItems lists every key and value of a snapshot of s.
func boltItems(t testing.TB, s *boltstore.Store) []Stored {
	t.Helper()
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snapshot.db")
	f, err := os.Create(path)
	if err != nil {
		sn.Close()
		t.Fatal(err)
	}
	_, werr := sn.WriteTo(f)
	sn.Close()
	if cerr := f.Close(); werr != nil || cerr != nil {
		t.Fatalf("write snapshot: %v %v", werr, cerr)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []Stored
	var walk func(path string, b *bolt.Bucket) error
	walk = func(path string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			where := fmt.Sprintf("bucket %s key %q", path, k)
			out = append(out, Stored{Where: where + " (key)", Data: bytes.Clone(k)})
			if v == nil { // a nested bucket
				return walk(path+"/"+string(k), b.Bucket(k))
			}
			out = append(out, Stored{Where: where, Data: bytes.Clone(v)})
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatalf("walk snapshot: %v", err)
	}
	if len(out) == 0 {
		t.Fatal("the store snapshot holds no item")
	}
	return out
}

// blobFiles lists the files of the embedded blob store.
func blobFiles(t testing.TB, dataDir string) []Stored {
	t.Helper()
	e := &Env{T: t, DataDir: filepath.Join(dataDir, embedded.BlobDir)}
	return e.DataDirFiles()
}

// dynamoItems scans the whole table and lists every attribute value.
func dynamoItems(t testing.TB, c *dynamodb.Client, table string) []Stored {
	t.Helper()
	var out []Stored
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range page.Items {
			id := "item"
			if pk, ok := it["pk"].(*ddbtypes.AttributeValueMemberS); ok {
				id += " " + pk.Value
			}
			if sk, ok := it["sk"].(*ddbtypes.AttributeValueMemberS); ok {
				id += "/" + sk.Value
			}
			for name, v := range it {
				out = append(out, Stored{Where: id + " attribute " + name + " (name)", Data: []byte(name)})
				flattenAttribute(id+" attribute "+name, v, &out)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("table %s holds no item", table)
	}
	return out
}

func flattenAttribute(where string, v ddbtypes.AttributeValue, out *[]Stored) {
	switch x := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		*out = append(*out, Stored{where, []byte(x.Value)})
	case *ddbtypes.AttributeValueMemberN:
		*out = append(*out, Stored{where, []byte(x.Value)})
	case *ddbtypes.AttributeValueMemberB:
		*out = append(*out, Stored{where, x.Value})
	case *ddbtypes.AttributeValueMemberSS:
		for _, s := range x.Value {
			*out = append(*out, Stored{where, []byte(s)})
		}
	case *ddbtypes.AttributeValueMemberNS:
		for _, s := range x.Value {
			*out = append(*out, Stored{where, []byte(s)})
		}
	case *ddbtypes.AttributeValueMemberBS:
		for _, b := range x.Value {
			*out = append(*out, Stored{where, b})
		}
	case *ddbtypes.AttributeValueMemberL:
		for i, e := range x.Value {
			flattenAttribute(fmt.Sprintf("%s[%d]", where, i), e, out)
		}
	case *ddbtypes.AttributeValueMemberM:
		for k, e := range x.Value {
			*out = append(*out, Stored{where + "." + k + " (name)", []byte(k)})
			flattenAttribute(where+"."+k, e, out)
		}
	}
}

// s3Objects reads every object of the bucket.
func s3Objects(t testing.TB, c *s3.Client, bucket string) []Stored {
	t.Helper()
	ctx := context.Background()
	var out []Stored
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			r, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			b, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				t.Fatalf("read %s: %v", key, err)
			}
			out = append(out, Stored{Where: "object " + key, Data: b}, Stored{Where: "object key " + key, Data: []byte(key)})
		}
	}
	return out
}

// Spellings returns the ways secret can be written into stored text: its
// bytes, lower- and upper-case hex, and the characters of its standard and
// URL-safe base64 encodings that depend on the secret alone, at each of the
// three alignments it can have inside a longer base64 string (so that a
// secret encoded as part of a larger value is found too).
func Spellings(secret []byte) [][]byte {
	out := [][]byte{secret, []byte(hex.EncodeToString(secret)), []byte(strings.ToUpper(hex.EncodeToString(secret)))}
	for shift := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, shift), secret...))
		// Character i carries bits [6i, 6i+6); the secret's bits are
		// [8*shift, 8*(shift+len)).
		from, to := (8*shift+5)/6, 8*(shift+len(secret))/6
		mid := enc[from:to]
		out = append(out, []byte(mid), []byte(strings.NewReplacer("+", "-", "/", "_").Replace(mid)))
	}
	return out
}

// Holding returns where any spelling of secret appears in stored.
func Holding(stored []Stored, secret []byte) []string {
	var where []string
	spellings := Spellings(secret)
	for _, s := range stored {
		for _, sp := range spellings {
			if bytes.Contains(s.Data, sp) {
				where = append(where, s.Where)
				break
			}
		}
	}
	return where
}
