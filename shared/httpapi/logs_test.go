package httpapi_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

// TestLogsCarryNoSecrets plants PHI-like values (names, notes, a purpose,
// data keys, device keys, sealed keys, signed URLs) in requests and answers,
// good and bad, and fails if any of them appears in the logs.
func TestLogsCarryNoSecrets(t *testing.T) { forEachRuntime(t, core.Config{}, testLogsCarryNoSecrets) }

func testLogsCarryNoSecrets(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, other := parties(env)
	planted := []string{"Jane Q. Patient", "melanoma on the left temple", "second opinion for Jane"}

	photo := []byte("photo of " + planted[0])
	id := pat.upload(t, "TEMPLES", "image/jpeg", photo, &client.PhotoMetadata{Notes: planted[1]})
	planted = append(planted, base64.StdEncoding.EncodeToString([]byte(planted[1])))
	sh, dev, a := openShare(t, pat, pro, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 5, Purpose: planted[2]}, core.KEMX25519)
	planted = append(planted, base64.StdEncoding.EncodeToString(dev.Private.PublicKey().Bytes()))
	k := pro.issue(t, a.AccessID, id)
	planted = append(planted, base64.StdEncoding.EncodeToString(k.SealedKey))
	u := pro.claim(t, k.KeyID)
	parsed, _ := url.Parse(u.URL)
	planted = append(planted, parsed.RawQuery)
	for k, v := range parsed.Query() {
		if strings.Contains(strings.ToLower(k), "signature") {
			planted = append(planted, v[0])
		}
	}
	dataKey, _ := dev.OpenKey(k, a.AccessID)
	planted = append(planted, base64.StdEncoding.EncodeToString(dataKey))

	// Refused requests carrying the same kind of values.
	other.c.Do(ctx, "POST", "/v1/shares/"+sh.ShareID+"/access", nil, map[string]any{"kem": 32, "device_public_key": dev.Private.PublicKey().Bytes(), "device_fingerprint": planted[0]}, nil)
	pat.c.Do(ctx, "POST", "/v1/shares", nil, map[string]any{"professional_id": pro1, "photo_ids": []string{id}, "expires_in": 1, "max_views": 5, "purpose": planted[2]}, nil)
	pat.c.Do(ctx, "POST", "/v1/photos", nil, map[string]any{"angle": "CROWN", "content_type": "image/jpeg", "size": 1, "sha256": make([]byte, 32), "data_key": dataKey, planted[1]: 1}, nil)

	logs := env.Logs.String()
	for _, p := range planted {
		if p != "" && strings.Contains(logs, p) {
			t.Errorf("the logs contain %.40q", p)
		}
	}

	// Every request line is structured, carries its ids and outcome, and is a
	// CloudWatch Embedded Metric Format record.
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct {
			Msg       string  `json:"msg"`
			Op        string  `json:"op"`
			RequestID string  `json:"request_id"`
			Status    int     `json:"status"`
			Outcome   string  `json:"outcome"`
			Operation string  `json:"Operation"`
			Requests  int     `json:"Requests"`
			Latency   float64 `json:"Latency"`
			AWS       struct {
				Timestamp         int64 `json:"Timestamp"`
				CloudWatchMetrics []struct {
					Namespace  string     `json:"Namespace"`
					Dimensions [][]string `json:"Dimensions"`
					Metrics    []struct{ Name, Unit string }
				} `json:"CloudWatchMetrics"`
			} `json:"_aws"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line.Msg != "request" {
			continue
		}
		lines++
		if line.Op == "" || line.RequestID == "" || line.Status == 0 || line.Outcome == "" {
			t.Errorf("request line without ids or outcome: %s", sc.Text())
		}
		if line.Operation != line.Op || line.Requests != 1 || line.AWS.Timestamp == 0 || len(line.AWS.CloudWatchMetrics) != 1 ||
			line.AWS.CloudWatchMetrics[0].Namespace != "MedShare" || len(line.AWS.CloudWatchMetrics[0].Metrics) != 2 {
			t.Errorf("request line is not an EMF record: %s", sc.Text())
		}
	}
	// presign, finalize, create, open, issue, claim, and three refusals
	if lines != 9 {
		t.Errorf("%d request lines, want 9: one per API request", lines)
	}
}
