package awstest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// SecretsManager is a Secrets Manager endpoint on loopback for tests: none
// of the emulators serves Secrets Manager. It answers GetSecretValue and
// PutSecretValue (the AWS JSON 1.1 protocol, as the SDK's client speaks
// it) from a map, refuses requests that are not SigV4-signed for
// secretsmanager, and records the operations it served. Point a client at
// it with AWS_ENDPOINT_URL_SECRETS_MANAGER=URL.
type SecretsManager struct {
	URL string
	mu  sync.Mutex
	// values by secret id (ARN or name).
	values map[string]string
	calls  []string
}

// NewSecretsManager starts the endpoint; it stops with the test.
func NewSecretsManager(t testing.TB) *SecretsManager {
	t.Helper()
	f := &SecretsManager{values: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Set stores value as the current value of secret id.
func (f *SecretsManager) Set(id, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[id] = value
}

// Value returns the current value of secret id.
func (f *SecretsManager) Value(id string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.values[id]
	return v, ok
}

// Calls returns the operations served, as "Operation SecretId".
func (f *SecretsManager) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *SecretsManager) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, "/secretsmanager/aws4_request") {
		fail(http.StatusForbidden, "UnrecognizedClientException", "the request is not signed for secretsmanager")
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	body, _ := io.ReadAll(r.Body)
	var in struct{ SecretId, SecretString string }
	if !ok || r.Method != http.MethodPost || json.Unmarshal(body, &in) != nil || in.SecretId == "" {
		fail(http.StatusBadRequest, "InvalidRequestException", "not a request this fake serves")
		return
	}
	out, errType := f.apply(op, in.SecretId, in.SecretString)
	if errType != "" {
		fail(http.StatusBadRequest, errType, "this fake refuses the request: "+errType)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// apply serves one operation on the map; errType is the error's type when
// it fails.
func (f *SecretsManager) apply(op, id, value string) (out map[string]any, errType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op+" "+id)
	current, exists := f.values[id]
	switch {
	case op != "GetSecretValue" && op != "PutSecretValue":
		return nil, "InvalidRequestException"
	case !exists:
		return nil, "ResourceNotFoundException"
	case op == "GetSecretValue":
		return map[string]any{"ARN": id, "Name": id, "SecretString": current, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}}, ""
	}
	f.values[id] = value
	return map[string]any{"ARN": id, "Name": id, "VersionId": "v2", "VersionStages": []string{"AWSCURRENT"}}, ""
}
