package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// answer is an answer of the API, with its request id, which the audit
// record of the request carries.
type answer struct {
	status int
	reqID  string
	body   []byte
}

// send sends one JSON request (in, when not nil, as the body) and reads the
// answer. An error is a request that got no answer.
func send(ctx context.Context, hc *http.Client, method, u, token string, in any) (answer, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return answer{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, reqID: resp.Header.Get("X-Request-Id")}
	a.body, err = io.ReadAll(resp.Body)
	return a, err
}

// field is the string field name of a 2xx answer's JSON body: "" for any
// other answer (or none), whose record fails the step anyway.
func (a answer) field(name string) string {
	if a.status/100 != 2 {
		return ""
	}
	var m map[string]any
	_ = json.Unmarshal(a.body, &m)
	v, _ := m[name].(string)
	return v
}

// acked is a request that was answered 2xx: its patient's chain must hold a
// successful record of action on resource with its request id.
type acked struct {
	patient, action, resource, reqID string
}

// crashJournal is what the load was told before the kill.
type crashJournal struct {
	killed atomic.Bool // the server was killed: a request without an answer ends its client
	acks   atomic.Int64

	mu       sync.Mutex
	records  []acked
	staged   map[string]string // photo (presign answered) → patient
	ready    map[string]string // photo (finalize answered) → patient
	shares   map[string]string // share (create answered) → patient
	issued   map[string]int    // share → keys issued (issue-key answered)
	claimed  map[string]string // key (claim answered) → professional
	kinds    map[string]int    // action → acknowledged requests
	problems []string          // 5xx, unexpected answers, requests unanswered before the kill
}

// record notes a 2xx answer and its audit record, and returns the answer's
// body; ok is false when the request failed, which it records as a problem
// unless the server was killed (quit: the client ends).
func (j *crashJournal) record(what, patient, action, resource string, a answer, err error) (ok, quit bool) {
	switch {
	case err != nil && j.killed.Load():
		return false, true
	case err != nil:
		j.problem("%s: no answer: %v", what, err)
		return false, true
	case a.status/100 != 2:
		j.problem("%s: %d %s", what, a.status, a.body)
		return false, false
	}
	if action != "" {
		j.mu.Lock()
		j.records = append(j.records, acked{patient: patient, action: action, resource: resource, reqID: a.reqID})
		j.kinds[action]++
		j.mu.Unlock()
	}
	j.acks.Add(1)
	return true, false
}

// note records, under the journal's lock, that key (a photo, share or key
// id) maps to value (its patient or professional) in m, one of its maps.
func (j *crashJournal) note(m map[string]string, key, value string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	m[key] = value
}

func (j *crashJournal) problem(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.problems = append(j.problems, fmt.Sprintf(format, args...))
}

func (j *crashJournal) count(action string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.kinds[action]
}

// TestSIGKILLDuringLoad kills a real `medshare serve` process with SIGKILL
// in the middle of a concurrent load (photo uploads, sessions, accesses,
// issue-key and claim, chat signed URLs), three times, restarting it on the
// same data directory each time, and checks that every request answered 2xx is there: each
// record in its patient's chain (with the request's id, listed by GET
// /v1/audit), every chain verified by GET /v1/audit/verify, every photo
// staged or finalized, every session with at least its acknowledged views,
// every claimed key refused a second claim as used; and that no request was
// answered 5xx. The writes of a group commit are answered only after their
// transaction is committed (boltstore/commit.go), so none can be lost.
func TestSIGKILLDuringLoad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := startProcess(t, "--data-dir", dir, "--rate-limit=false", "--jobs=false")
	base := "http://" + p.addr
	_, mint := minter(t, filepath.Join(dir, embedded.TokenKeyFile))
	hc := &http.Client{Timeout: 30 * time.Second}
	j := &crashJournal{staged: map[string]string{}, ready: map[string]string{}, shares: map[string]string{},
		issued: map[string]int{}, claimed: map[string]string{}, kinds: map[string]int{}}

	const patients, pros = 4, 4
	patientID := func(i int) string { return fmt.Sprint("crash-patient-", i) }
	proID := func(i int) string { return fmt.Sprint("crash-pro-", i) }
	// Before the load: each patient's appointment, with every professional,
	// and one chat image.
	clinic := mint("crash-clinic", core.RoleClinic)
	images := make([]string, patients)
	for i := range patients {
		now := time.Now().UTC()
		var pl []string
		for v := range pros {
			pl = append(pl, proID(v))
		}
		a, err := send(ctx, hc, "PUT", base+"/v1/appointments/crash-appt-"+fmt.Sprint(i), clinic, map[string]any{
			"patient_id": patientID(i), "professional_ids": pl, "starts_at": now, "ends_at": now.Add(time.Hour)})
		if ok, _ := j.record("register appointment", patientID(i), "appointment.register", "", a, err); !ok {
			t.Fatalf("register appointment: %v %s", err, a.body)
		}
		ci, err := client.New(base, mint(patientID(i), core.RolePatient)).UploadChatImage(ctx, "crash-appt-"+fmt.Sprint(i), "image/png", []byte(strings.Repeat("png ", 500)))
		if err != nil {
			t.Fatal(err)
		}
		images[i] = ci.ImageID
	}

	// Three times: load, SIGKILL in the middle of it, start again on the
	// same directory. Each kill is another chance to catch a write answered
	// before its commit.
	const kills = 3
	for kill := 1; kill <= kills; kill++ {
		if kill > 1 {
			p = startProcess(t, "--data-dir", dir, "--rate-limit=false", "--jobs=false")
			base = "http://" + p.addr
			j.killed.Store(false)
		}
		j.mu.Lock()
		acks0, claims0, shares0 := j.acks.Load(), j.kinds["key.claim"], j.kinds["share.create"]
		j.mu.Unlock()
		shared := make([]chan string, pros) // sessions waiting for their professional
		for v := range shared {
			shared[v] = make(chan string, 64)
		}
		var wg sync.WaitGroup
		for i := range patients {
			wg.Go(func() {
				pid := patientID(i)
				tok := mint(pid, core.RolePatient)
				c := client.New(base, tok)
				for n := 0; ; n++ {
					ct, key, err := client.EncryptPhoto([]byte(fmt.Sprintf("%s photo %d", pid, n)))
					if err != nil {
						j.problem("encrypt: %v", err)
						return
					}
					sum := sha256.Sum256(ct)
					a, err := send(ctx, hc, "POST", base+"/v1/photos", tok, map[string]any{
						"angle": "CROWN", "content_type": "image/jpeg", "size": len(ct), "sha256": sum[:], "data_key": key})
					ok, quit := j.record("upload-presign", pid, "", "", a, err)
					if quit {
						return
					}
					if !ok {
						continue
					}
					var staged struct {
						PhotoID string        `json:"photo_id"`
						Upload  client.Upload `json:"upload"`
					}
					if err := json.Unmarshal(a.body, &staged); err != nil {
						j.problem("upload-presign answer: %v", err)
						return
					}
					j.note(j.staged, staged.PhotoID, pid)
					if err := c.Send(ctx, staged.Upload, ct); err != nil {
						if !j.killed.Load() {
							j.problem("blob put: %v", err)
						}
						return
					}
					a, err = send(ctx, hc, "POST", base+"/v1/photos/"+staged.PhotoID+"/finalize", tok, nil)
					if ok, quit := j.record("finalize-upload", pid, "photo.finalize", staged.PhotoID, a, err); quit {
						return
					} else if !ok {
						continue
					}
					j.note(j.ready, staged.PhotoID, pid)
					v := (i + n) % pros
					a, err = send(ctx, hc, "POST", base+"/v1/shares", tok, client.ShareRequest{
						ProfessionalID: proID(v), PhotoIDs: []string{staged.PhotoID}, ExpiresIn: 3600, MaxViews: 4})
					var sh struct {
						ShareID string `json:"share_id"`
					}
					if err == nil && a.status/100 == 2 {
						if err := json.Unmarshal(a.body, &sh); err != nil {
							j.problem("create-session answer: %v", err)
							return
						}
					}
					if ok, quit := j.record("create-session", pid, "share.create", sh.ShareID, a, err); quit {
						return
					} else if !ok {
						continue
					}
					j.note(j.shares, sh.ShareID, pid)
					select {
					case shared[v] <- sh.ShareID + " " + staged.PhotoID:
					default: // the professional is behind: this session stays unopened
					}
				}
			})
		}
		for v := range pros {
			wg.Go(func() {
				pro := proID(v)
				tok := mint(pro, core.RoleProfessional)
				dev, err := client.NewDevice(0x0020)
				if err != nil {
					j.problem("device: %v", err)
					return
				}
				for n := 0; ; n++ {
					// A chat signed URL of one of the appointments, every round.
					img := images[(v+n)%patients]
					a, err := send(ctx, hc, "GET", base+"/api/chat-images/"+img+"/signed-url", tok, nil)
					if _, quit := j.record("chat-signed-url", patientID((v+n)%patients), "chat_image.signed_url", img, a, err); quit {
						return
					}
					var next string
					select {
					case next = <-shared[v]:
					default:
						continue
					}
					shareID, photoID, _ := strings.Cut(next, " ")
					j.mu.Lock()
					pid := j.shares[shareID]
					j.mu.Unlock()
					a, err = send(ctx, hc, "POST", base+"/v1/shares/"+shareID+"/access", tok, map[string]any{
						"kem": dev.KEM, "device_public_key": dev.Private.PublicKey().Bytes(), "device_fingerprint": dev.Fingerprint})
					accessID := a.field("access_id")
					if ok, quit := j.record("open-access", pid, "access.open", accessID, a, err); quit {
						return
					} else if !ok {
						continue
					}
					for range 2 {
						a, err := send(ctx, hc, "POST", base+"/v1/access/"+accessID+"/photos/"+photoID+"/key", tok, nil)
						keyID := a.field("key_id")
						if ok, quit := j.record("issue-key", pid, "key.issue", keyID, a, err); quit {
							return
						} else if !ok {
							break
						}
						j.mu.Lock()
						j.issued[shareID]++
						j.mu.Unlock()
						a, err = send(ctx, hc, "POST", base+"/v1/keys/"+keyID+"/signed-url", tok, nil)
						if ok, quit := j.record("signed-url", pid, "key.claim", keyID, a, err); quit {
							return
						} else if !ok {
							break
						}
						j.note(j.claimed, keyID, pro)
					}
				}
			})
		}

		// Kill once every kind of write has been answered a few times more.
		for {
			j.mu.Lock()
			enough := len(j.problems) > 0 || (j.acks.Load() >= acks0+250 && j.kinds["key.claim"] >= claims0+5 && j.kinds["share.create"] >= shares0+5)
			j.mu.Unlock()
			if enough {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		j.killed.Store(true)
		if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no last commit
			t.Fatal(err)
		}
		<-p.exited
		wg.Wait()
		if len(j.problems) > 0 {
			t.Fatalf("kill %d: answers no client should get (5xx, unexpected refusals, no answer before the kill):\n%s", kill, strings.Join(j.problems, "\n"))
		}
	}

	// Restarted on the same directory: everything answered 2xx is there.
	srv := launch(t, dir, nil, "--jobs=false", "--rate-limit=false")
	byPatient := map[string]map[string]acked{} // patient → request id → its record, as the chain lists it
	for i := range patients {
		pid := patientID(i)
		tok := mint(pid, core.RolePatient)
		var v struct {
			Valid   bool   `json:"valid"`
			Records uint64 `json:"records"`
		}
		if err := client.New(srv.url, tok).Do(ctx, "GET", "/v1/audit/verify", nil, nil, &v); err != nil || !v.Valid {
			t.Errorf("%s: the audit chain after the restart: valid=%v %v", pid, v.Valid, err)
		}
		recs := map[string]acked{}
		cursor := ""
		for {
			var page struct {
				Items []struct {
					Action     string `json:"action"`
					ResourceID string `json:"resource_id"`
					Outcome    string `json:"outcome"`
					RequestID  string `json:"request_id"`
				} `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			path := "/v1/audit?limit=100"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			if err := client.New(srv.url, tok).Do(ctx, "GET", path, nil, nil, &page); err != nil {
				t.Fatalf("%s: list the audit trail: %v", pid, err)
			}
			for _, it := range page.Items {
				if it.Outcome == core.OutcomeSuccess {
					recs[it.RequestID] = acked{patient: pid, action: it.Action, resource: it.ResourceID, reqID: it.RequestID}
				}
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if uint64(len(recs)) > v.Records {
			t.Errorf("%s: %d records listed, %d verified", pid, len(recs), v.Records)
		}
		byPatient[pid] = recs
	}
	for _, want := range j.records {
		got, ok := byPatient[want.patient][want.reqID]
		switch {
		case !ok:
			t.Errorf("%s (request %s) was answered 2xx; after the restart %s's chain has no record of it", want.action, want.reqID, want.patient)
		case got.action != want.action || (want.resource != "" && got.resource != want.resource):
			t.Errorf("request %s: the record is %s on %s, want %s on %s", want.reqID, got.action, got.resource, want.action, want.resource)
		}
	}
	photos := map[string]string{} // photo → status, after the restart
	for i := range patients {
		c := client.New(srv.url, mint(patientID(i), core.RolePatient))
		for cursor := ""; ; {
			list, next, err := c.ListPhotos(ctx, cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, ph := range list {
				photos[ph.PhotoID] = ph.Status
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	for id := range j.staged {
		if _, ok := photos[id]; !ok {
			t.Errorf("photo %s: its upload was staged (201); it is gone after the restart", id)
		}
	}
	for id := range j.ready {
		if photos[id] != "ready" {
			t.Errorf("photo %s: finalize was answered 2xx; after the restart it is %q", id, photos[id])
		}
	}
	for id, pid := range j.shares {
		sh, err := client.New(srv.url, mint(pid, core.RolePatient)).GetShare(ctx, id)
		if err != nil {
			t.Errorf("session %s was created (201); after the restart: %v", id, err)
			continue
		}
		if sh.ViewsUsed < j.issued[id] {
			t.Errorf("session %s: %d keys issued were answered 2xx; %d views used after the restart", id, j.issued[id], sh.ViewsUsed)
		}
	}
	for key, pro := range j.claimed {
		_, err := client.New(srv.url, mint(pro, core.RoleProfessional)).ClaimKey(ctx, key)
		if client.Code(err) != core.CodeKeyUsed {
			t.Errorf("key %s was claimed (2xx); a second claim after the restart: %v, want %s", key, err, core.CodeKeyUsed)
		}
	}
	t.Logf("answered 2xx before SIGKILL: %d requests; records: %d chat URLs, %d finalized photos, %d sessions, %d accesses, %d keys issued, %d claimed",
		j.acks.Load(), j.count("chat_image.signed_url"), j.count("photo.finalize"), j.count("share.create"), j.count("access.open"), j.count("key.issue"), j.count("key.claim"))
}
