// Package throughput measures the embedded runtime's throughput against a
// floor (issue 14 §5), for `medshare bench throughput`.
//
// The floor is a trivial Go HTTP server that answers every request with a
// JSON body of the size of the measured route's answer. The embedded server
// is what `medshare serve` runs: package embedded on a fresh data
// directory, its HTTP handler, the same http.Server settings, a JSON request
// log (written to io.Discard: the formatting is measured, not a terminal),
// the rate limits off and no scheduled jobs. Both listen on 127.0.0.1 in
// this process, and one load generator drives both: Clients goroutines,
// each sending its next request on a keep-alive connection as soon as the
// last answer is read, for Warmup (not counted) and then Duration. Both
// servers and the generator share the machine's cores alike.
//
// Two rows, the table:
//
//   - chat signed URLs: GET /api/chat-images/{id}/signed-url by a
//     professional of the image's appointment. One request is one
//     operation.
//   - photo views: issue-key then its claim (POST
//     /v1/access/{access_id}/photos/{photo_id}/key, POST
//     /v1/keys/{key_id}/signed-url) by the grantee, on an X25519 device,
//     with a new access every ViewsPerAccess views (opening it belongs to
//     the view that needs it) and a new session when one has had the
//     accesses the hourly limit allows. One view is one operation; its
//     ratio is views per second over the floor's requests per second, as
//     the issue computes it.
//
// Client i is its own professional and acts for patient i mod Patients, so
// Patients is the number of audit chains the load writes to (appends to one
// chain are serialized: ARCHITECTURE §2.8).
package throughput

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/measure"
	"github.com/medshare/medshare/shared/runtime/config"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// The targets: the server's rate over the floor's.
const (
	TargetChat  = 0.25
	TargetViews = 0.10
)

// ViewsPerAccess is how many views the load spends on one access.
const ViewsPerAccess = 8

// Options configure a run.
type Options struct {
	Clients  int           // concurrent keep-alive clients (32)
	Patients int           // patients, so audit chains (default: Clients)
	Duration time.Duration // measured time of each run (3 s)
	Warmup   time.Duration // time before each run's measure
	Runs     int           // runs of each server on each row, interleaved (10)
	// DataDir is the embedded server's data directory, which must not
	// exist yet; "" is a temporary directory, removed at the end.
	DataDir string
	// CPUProfile, when set, is the prefix of a CPU profile of each measured
	// run of the embedded server: PREFIX-chat-1.pprof, PREFIX-views-1.pprof,
	// and so on (the load generator's work is in them too).
	CPUProfile string
	Progress   io.Writer // one line per step (nil: none)
	// GCPercent is the garbage collector's target in force (GOGC), which
	// the caller set as `medshare serve` sets it; only reported.
	GCPercent int
	// AccessesPerShare is how many accesses a professional opens on one
	// session before the patient shares a new one (default, and at most:
	// the hourly limit, core.DefaultAccessOpenLimit).
	AccessesPerShare int
}

func (o Options) withDefaults() (Options, error) {
	if o.Clients == 0 {
		o.Clients = 32
	}
	if o.Patients == 0 {
		o.Patients = o.Clients
	}
	if o.Duration == 0 {
		o.Duration = 3 * time.Second
	}
	if o.Runs == 0 {
		o.Runs = 10
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.AccessesPerShare == 0 {
		o.AccessesPerShare = core.DefaultAccessOpenLimit
	}
	switch {
	case o.Clients < 1 || o.Clients > 1024:
		return o, fmt.Errorf("clients must be 1 to 1024, not %d", o.Clients)
	case o.Patients < 1 || o.Patients > o.Clients:
		return o, fmt.Errorf("patients must be 1 to the number of clients (%d), not %d", o.Clients, o.Patients)
	case o.Duration < 0 || o.Duration > 10*time.Minute:
		return o, fmt.Errorf("duration must be at most 10m, not %v", o.Duration)
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, fmt.Errorf("warmup must be at most 1m, not %v", o.Warmup)
	case o.Runs < 1 || o.Runs > 20:
		return o, fmt.Errorf("runs must be 1 to 20, not %d", o.Runs)
	case o.AccessesPerShare < 1 || o.AccessesPerShare > core.DefaultAccessOpenLimit:
		return o, fmt.Errorf("accesses per session must be 1 to %d, not %d", core.DefaultAccessOpenLimit, o.AccessesPerShare)
	}
	return o, nil
}

// Sample is one measured run of one server on one row.
type Sample struct {
	Ops      int           // operations completed in the measured time
	Rate     float64       // per second
	P50, P99 time.Duration // of the operations' latencies
	Errors   int           // answers that were not 2xx, and failed requests
	FirstErr string        // the first of them
	Load     string        // the load average when the run ended
	// CPU is the cores this process used in the measured time (servers
	// and load generator together; 0 where not measured): below the
	// machine's cores, the server waited rather than computed.
	CPU float64
	// WritesPerCommit is the embedded store's mean group, over the run
	// (warm-up included; 0 for the floor), and PagesPerWrite the pages its
	// commits wrote per write.
	WritesPerCommit, PagesPerWrite float64
}

// Row is one line of the table: the floor's runs and the server's.
type Row struct {
	Name      string // "chat signed URLs/s"
	Target    float64
	BodyBytes int // the size of the floor's answer: the route's answer
	Floor     []Sample
	Server    []Sample
}

// Report is the outcome of Run.
type Report struct {
	Options    Options
	GoVersion  string
	LoadBefore string
	LoadAfter  string
	Rows       []Row
}

// Errors is the number of failed operations in every run of the server.
func (r Report) Errors() int {
	n := 0
	for _, row := range r.Rows {
		for _, s := range append(slices.Clone(row.Floor), row.Server...) {
			n += s.Errors
		}
	}
	return n
}

// Run sets up the embedded server and its data, then measures each row,
// the floor and the server in turn, Runs times.
func Run(ctx context.Context, o Options) (Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Options: o, GoVersion: runtime.Version(), LoadBefore: measure.LoadAverage()}
	dir := o.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "medshare-bench-")
		if err != nil {
			return Report{}, err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "data")
	} else if _, err := os.Stat(dir); err == nil {
		return Report{}, fmt.Errorf("data directory %s exists: give a new one", dir)
	}
	srv, err := startEmbedded(dir)
	if err != nil {
		return Report{}, err
	}
	defer srv.close()
	fmt.Fprintf(o.Progress, "embedded server on %s, data in %s; setting up %d patients and %d professionals\n", srv.url, dir, o.Patients, o.Clients)
	w, err := setup(ctx, srv, o)
	if err != nil {
		return Report{}, fmt.Errorf("set up: %w", err)
	}
	chatSize, viewSize, err := w.answerSizes(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("set up: %w", err)
	}
	rows := []struct {
		row  Row
		op   func(ctx context.Context, c *conn, i int) error
		name string
	}{
		{Row{Name: "chat signed URLs/s", Target: TargetChat, BodyBytes: chatSize}, w.chatURL, "chat"},
		{Row{Name: "photo views/s", Target: TargetViews, BodyBytes: viewSize}, w.view, "views"},
	}
	for run := 1; run <= o.Runs; run++ {
		for i := range rows {
			r := &rows[i]
			floor, err := startFloor(r.row.BodyBytes)
			if err != nil {
				return Report{}, err
			}
			fmt.Fprintf(o.Progress, "run %d/%d, %s: floor (%d-byte answers)\n", run, o.Runs, r.row.Name, r.row.BodyBytes)
			tok := w.pros[0].token
			s := drive(ctx, o, "", func(ctx context.Context, c *conn, _ int) error {
				_, err := c.do(ctx, "GET", floor.url+"/floor", tok, nil)
				return err
			})
			floor.close()
			r.row.Floor = append(r.row.Floor, s)
			fmt.Fprintf(o.Progress, "  %.0f/s, p50 %v, p99 %v, %.2f cores, load %s\n", s.Rate, s.P50, s.P99, s.CPU, s.Load)
			fmt.Fprintf(o.Progress, "run %d/%d, %s: embedded server\n", run, o.Runs, r.row.Name)
			prof := ""
			if o.CPUProfile != "" {
				prof = fmt.Sprintf("%s-%s-%d.pprof", o.CPUProfile, r.name, run)
			}
			c0 := srv.rt.Store.CommitStats()
			s = drive(ctx, o, prof, r.op)
			if c1 := srv.rt.Store.CommitStats(); c1.Commits > c0.Commits {
				s.WritesPerCommit = float64(c1.Writes-c0.Writes) / float64(c1.Commits-c0.Commits)
				s.PagesPerWrite = float64(c1.Pages-c0.Pages) / float64(c1.Writes-c0.Writes)
			}
			r.row.Server = append(r.row.Server, s)
			fmt.Fprintf(o.Progress, "  %.0f/s, p50 %v, p99 %v, %.2f cores %s, %.1f writes a commit, %.1f pages a write, load %s, %d errors %s\n", s.Rate, s.P50, s.P99, s.CPU, s.perOp(), s.WritesPerCommit, s.PagesPerWrite, s.Load, s.Errors, s.FirstErr)
			if err := ctx.Err(); err != nil {
				return Report{}, err
			}
		}
	}
	for _, r := range rows {
		rep.Rows = append(rep.Rows, r.row)
	}
	rep.LoadAfter = measure.LoadAverage()
	return rep, nil
}

// server is a server listening on loopback.
type server struct {
	url   string
	srv   *http.Server
	close func()
}

// httpServer has `medshare serve`'s settings.
func httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// startFloor serves a JSON body of size bytes to every request.
func startFloor(size int) (*server, error) {
	const open, end = `{"pad":"`, `"}`
	body := []byte(open + strings.Repeat("x", max(0, size-len(open)-len(end))) + end)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := httpServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	go hs.Serve(ln)
	return &server{url: "http://" + ln.Addr().String(), srv: hs, close: func() { hs.Close() }}, nil
}

// embeddedServer is the embedded runtime behind its HTTP handler.
type embeddedServer struct {
	server
	rt *embedded.Runtime
}

func startEmbedded(dir string) (*embeddedServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	cfg, err := config.Service(func(string) string { return "" })
	if err != nil {
		ln.Close()
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	rt, err := embedded.Open(embedded.Options{DataDir: dir, PublicURL: base, Config: cfg, Log: log})
	if err != nil {
		ln.Close()
		return nil, err
	}
	hs := httpServer(rt.HTTPHandler(log))
	go hs.Serve(ln)
	return &embeddedServer{server: server{url: base, srv: hs, close: func() {
		hs.Close()
		rt.Close()
	}}, rt: rt}, nil
}

// client is an HTTP client for setting things up.
func (s *server) client() *http.Client { return &http.Client{Timeout: time.Minute} }

// conn is one client of the load: an HTTP client that keeps its connection
// alive, and a buffer for answers.
type conn struct {
	hc  *http.Client
	buf bytes.Buffer
}

// do sends one request with a bearer token and reads the whole answer; an
// answer that is not 2xx is an error that names its status and code.
func (c *conn) do(ctx context.Context, method, url, token string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	c.buf.Reset()
	_, err = c.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(c.buf.Bytes(), &e)
		return nil, &statusError{status: resp.StatusCode, code: e.Error.Code}
	}
	return c.buf.Bytes(), nil
}

// doInto sends a request as do does and decodes its answer into out.
func (c *conn) doInto(ctx context.Context, method, url, token string, body []byte, out any) error {
	b, err := c.do(ctx, method, url, token, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

type statusError struct {
	status int
	code   string
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s", e.status, e.code) }

// drive runs op on Clients clients for Warmup and then Duration, and
// measures the operations that end in the measured time. With prof, it
// writes a CPU profile of the measured time there.
func drive(ctx context.Context, o Options, prof string, op func(ctx context.Context, c *conn, i int) error) Sample {
	tr := &http.Transport{
		MaxIdleConnsPerHost: o.Clients,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	start := time.Now()
	from, until := start.Add(o.Warmup), start.Add(o.Warmup+o.Duration)
	type result struct {
		lat      []time.Duration
		errs     int
		firstErr error
	}
	results := make([]result, o.Clients)
	var wg sync.WaitGroup
	for i := range o.Clients {
		wg.Go(func() {
			c := &conn{hc: hc}
			r := &results[i]
			for {
				t0 := time.Now()
				if !t0.Before(until) || ctx.Err() != nil {
					return
				}
				err := op(ctx, c, i)
				t1 := time.Now()
				if t1.Before(from) || t1.After(until) {
					continue
				}
				if err != nil {
					r.errs++
					if r.firstErr == nil {
						r.firstErr = err
					}
					continue
				}
				r.lat = append(r.lat, t1.Sub(t0))
			}
		})
	}
	var cpu time.Duration
	if prof != "" {
		cpu = profile(prof, from, until)
	} else {
		time.Sleep(time.Until(from))
		c0 := cpuTime()
		time.Sleep(time.Until(until))
		cpu = cpuTime() - c0
	}
	wg.Wait()
	s := Sample{Load: measure.LoadAverage(), CPU: cpu.Seconds() / o.Duration.Seconds()}
	var lat []time.Duration
	for _, r := range results {
		lat = append(lat, r.lat...)
		s.Errors += r.errs
		if r.firstErr != nil && s.FirstErr == "" {
			s.FirstErr = r.firstErr.Error()
		}
	}
	s.Ops = len(lat)
	if o.Duration > 0 {
		s.Rate = float64(s.Ops) / o.Duration.Seconds()
	}
	s.P50, s.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return s
}

// profile writes a CPU profile of [from, until) to path, and returns the
// CPU time used meanwhile; a failure to write is reported on stderr and
// ends nothing.
func profile(path string, from, until time.Time) time.Duration {
	time.Sleep(time.Until(from))
	c0 := cpuTime()
	f, err := os.Create(path)
	if err == nil {
		defer f.Close()
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
	}
	time.Sleep(time.Until(until))
	if err == nil {
		pprof.StopCPUProfile()
	}
	return cpuTime() - c0
}

// percentile returns the q-quantile of lat (nearest rank), sorting lat.
func percentile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := int(q*float64(len(lat))+0.5) - 1
	return lat[min(max(i, 0), len(lat)-1)]
}

// world is the data the load uses: per client, a professional with a
// token, its patient, that patient's chat image and photo, and the state of
// its views.
type world struct {
	base     string
	accesses int // per session
	mint     func(sub string, role core.Role) (string, error)
	patients []*patient
	pros     []*professional
}

type patient struct {
	id, token string
	imageID   string // a chat image of the patient's appointment
	photoID   string
}

type professional struct {
	id, token string
	patient   *patient
	imageID   string // the chat image this client asks for
	chatToken string // a token of the image's appointment's professional
	device    []byte // the open-access body: an X25519 device key
	// The state of its views.
	shareID  string
	accesses int // opened on shareID
	accessID string
	views    int // spent on accessID
}

// setup creates, through the API, one appointment with a chat image and one
// photo per patient, and a device per professional.
func setup(ctx context.Context, srv *embeddedServer, o Options) (*world, error) {
	w := &world{base: srv.url, accesses: o.AccessesPerShare, mint: func(sub string, role core.Role) (string, error) {
		return srv.rt.Auth.Mint(sub, role, 24*time.Hour)
	}}
	clinicTok, err := w.mint("bench-clinic", core.RoleClinic)
	if err != nil {
		return nil, err
	}
	clinic := client.New(w.base, clinicTok)
	img := bytes.Repeat([]byte("chat image "), 2000)
	photo := bytes.Repeat([]byte("photo "), 4000)
	for j := range o.Patients {
		p := &patient{id: fmt.Sprintf("bench-patient-%d", j)}
		if p.token, err = w.mint(p.id, core.RolePatient); err != nil {
			return nil, err
		}
		appt := fmt.Sprintf("bench-appt-%d", j)
		var pros []string
		for i := j; i < o.Clients; i += o.Patients {
			pros = append(pros, proID(i))
		}
		// An appointment has at most 20 professionals: the chat's
		// professional is the first client of the patient, whose subject
		// the others share for chat (they have tokens of their own).
		now := time.Now().UTC()
		err := clinic.Do(ctx, "PUT", "/v1/appointments/"+appt, nil, map[string]any{
			"patient_id": p.id, "professional_ids": pros[:1], "starts_at": now, "ends_at": now.Add(time.Hour),
		}, nil)
		if err != nil {
			return nil, fmt.Errorf("register appointment %s: %w", appt, err)
		}
		pc := client.New(w.base, p.token)
		ci, err := pc.UploadChatImage(ctx, appt, "image/png", img)
		if err != nil {
			return nil, fmt.Errorf("upload a chat image of %s: %w", p.id, err)
		}
		p.imageID = ci.ImageID
		if p.photoID, err = pc.UploadPhoto(ctx, "CROWN", "image/jpeg", photo, nil); err != nil {
			return nil, fmt.Errorf("upload a photo of %s: %w", p.id, err)
		}
		w.patients = append(w.patients, p)
	}
	for i := range o.Clients {
		p := w.patients[i%o.Patients]
		pro := &professional{id: proID(i), patient: p, imageID: p.imageID}
		// For chat, every client of a patient is the appointment's one
		// professional, with a token of its own.
		chatSub := proID(i % o.Patients)
		if pro.token, err = w.mint(pro.id, core.RoleProfessional); err != nil {
			return nil, err
		}
		dev, err := client.NewDevice(0x0020) // DHKEM(X25519)
		if err != nil {
			return nil, err
		}
		if pro.device, err = json.Marshal(map[string]any{
			"kem": dev.KEM, "device_public_key": dev.Private.PublicKey().Bytes(), "device_fingerprint": dev.Fingerprint,
		}); err != nil {
			return nil, err
		}
		if pro.chatToken, err = w.mint(chatSub, core.RoleProfessional); err != nil {
			return nil, err
		}
		w.pros = append(w.pros, pro)
	}
	return w, nil
}

func proID(i int) string { return fmt.Sprintf("bench-pro-%d", i) }

// chatURL is one chat signed URL: client i asks for its patient's image.
func (w *world) chatURL(ctx context.Context, c *conn, i int) error {
	pro := w.pros[i]
	_, err := c.do(ctx, "GET", w.base+"/api/chat-images/"+pro.imageID+"/signed-url", pro.chatToken, nil)
	return err
}

// view is one photo view by client i: a new session (of exactly the views
// its accesses allow) and a new access when needed, then issue-key and its
// claim. A failure drops the access (and,
// when the session cannot be used any more, the session), so that the next
// view starts afresh.
func (w *world) view(ctx context.Context, c *conn, i int) error {
	pro := w.pros[i]
	err := w.viewOnce(ctx, c, pro)
	if err != nil {
		pro.accessID = ""
		var se *statusError
		if errors.As(err, &se) && (se.status == http.StatusGone || se.status == http.StatusTooManyRequests) {
			pro.shareID = ""
		}
	}
	return err
}

func (w *world) viewOnce(ctx context.Context, c *conn, pro *professional) error {
	needAccess := pro.accessID == "" || pro.views == ViewsPerAccess
	if pro.shareID == "" || (needAccess && pro.accesses == w.accesses) {
		body, err := json.Marshal(client.ShareRequest{
			ProfessionalID: pro.id, PhotoIDs: []string{pro.patient.photoID},
			ExpiresIn: 7200, MaxViews: w.accesses * ViewsPerAccess, ScreenshotPolicy: "warn", Purpose: "throughput benchmark",
		})
		if err != nil {
			return err
		}
		var sh struct {
			ShareID string `json:"share_id"`
		}
		if err := c.doInto(ctx, "POST", w.base+"/v1/shares", pro.patient.token, body, &sh); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		pro.shareID, pro.accesses = sh.ShareID, 0
	}
	if needAccess {
		var a struct {
			AccessID string `json:"access_id"`
		}
		if err := c.doInto(ctx, "POST", w.base+"/v1/shares/"+pro.shareID+"/access", pro.token, pro.device, &a); err != nil {
			return fmt.Errorf("open access: %w", err)
		}
		pro.accessID, pro.views = a.AccessID, 0
		pro.accesses++
	}
	b, err := c.do(ctx, "POST", w.base+"/v1/access/"+pro.accessID+"/photos/"+pro.patient.photoID+"/key", pro.token, nil)
	if err != nil {
		return fmt.Errorf("issue key: %w", err)
	}
	pro.views++
	var k struct {
		KeyID string `json:"key_id"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return err
	}
	if _, err := c.do(ctx, "POST", w.base+"/v1/keys/"+k.KeyID+"/signed-url", pro.token, nil); err != nil {
		return fmt.Errorf("claim key: %w", err)
	}
	return nil
}

// answerSizes returns the size of a chat signed URL's answer, and the mean
// size of issue-key's and claim's answers, from one of each (after one view
// of the first client's, which opens its session and access).
func (w *world) answerSizes(ctx context.Context) (chat, view int, err error) {
	c := &conn{hc: &http.Client{Timeout: time.Minute}}
	pro := w.pros[0]
	b, err := c.do(ctx, "GET", w.base+"/api/chat-images/"+pro.imageID+"/signed-url", pro.chatToken, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("chat signed url: %w", err)
	}
	chat = len(b)
	if err := w.viewOnce(ctx, c, pro); err != nil {
		return 0, 0, fmt.Errorf("view: %w", err)
	}
	b, err = c.do(ctx, "POST", w.base+"/v1/access/"+pro.accessID+"/photos/"+pro.patient.photoID+"/key", pro.token, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("issue key: %w", err)
	}
	pro.views++
	issued := len(b)
	var k struct {
		KeyID string `json:"key_id"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return 0, 0, err
	}
	if b, err = c.do(ctx, "POST", w.base+"/v1/keys/"+k.KeyID+"/signed-url", pro.token, nil); err != nil {
		return 0, 0, fmt.Errorf("claim key: %w", err)
	}
	return chat, (issued + len(b)) / 2, nil
}

// Ratios is the server's rate over the floor's, run by run: each pair ran
// one after the other, so under the same load from the rest of the machine.
func (r Row) Ratios() []float64 {
	var out []float64
	for i := range min(len(r.Floor), len(r.Server)) {
		if r.Floor[i].Rate > 0 {
			out = append(out, r.Server[i].Rate/r.Floor[i].Rate)
		}
	}
	if len(out) == 0 {
		out = []float64{0}
	}
	return out
}

// median returns the median of the values of f.
func median[T any](ss []T, f func(T) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func rate(s Sample) float64 { return s.Rate }
func p50(s Sample) float64  { return float64(s.P50) }
func p99(s Sample) float64  { return float64(s.P99) }

// Write prints the table, medians of the runs, then every run.
func (r Report) Write(w io.Writer) error {
	o := r.Options
	bw := bufio.NewWriter(w)
	gc := "GOGC as the process started"
	if o.GCPercent != 0 {
		gc = fmt.Sprintf("GOGC=%d", o.GCPercent)
	}
	fmt.Fprintf(bw, "throughput on loopback: %d keep-alive clients, %d patients; %d run(s) of %v (after %v of warm-up) per server and row, interleaved; %s, %s\n",
		o.Clients, o.Patients, o.Runs, o.Duration, o.Warmup, r.GoVersion, gc)
	fmt.Fprintf(bw, "rates and latencies are medians of the runs; the ratio is the median of each run's ratio to the floor run just before it\n")
	fmt.Fprintf(bw, "load average (1, 5, 15 min): before %s, after %s\n\n", r.LoadBefore, r.LoadAfter)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "what\tfloor req/s\tfloor p50\tfloor p99\tMedShare\tp50\tp99\tratio\trange\ttarget\tmet\t")
	for _, row := range r.Rows {
		ratios := row.Ratios()
		ratio := median(ratios, func(x float64) float64 { return x })
		met := "NO"
		if ratio >= row.Target {
			met = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f×\t%.3f-%.3f×\t≥ %.2f×\t%s\t\n", row.Name,
			thousands(median(row.Floor, rate)), dur(median(row.Floor, p50)), dur(median(row.Floor, p99)),
			thousands(median(row.Server, rate)), dur(median(row.Server, p50)), dur(median(row.Server, p99)),
			ratio, slices.Min(ratios), slices.Max(ratios), row.Target, met)
	}
	tw.Flush()
	fmt.Fprintf(bw, "\nruns (rate/s, p50, p99, cores this process used and its CPU time per operation, load average at the end, errors):\n")
	for _, row := range r.Rows {
		fmt.Fprintf(bw, "%s, floor answers of %d bytes:\n", row.Name, row.BodyBytes)
		for i := range row.Server {
			f, s := row.Floor[i], row.Server[i]
			fmt.Fprintf(bw, "  run %d: floor %s, %s, %s, %.2f cores %s, load %s; MedShare %s, %s, %s, %.2f cores %s, %.1f writes a commit, %.1f pages a write, load %s, %d errors%s\n", i+1,
				thousands(f.Rate), f.P50.Round(time.Microsecond), f.P99.Round(time.Microsecond), f.CPU, f.perOp(), f.Load,
				thousands(s.Rate), s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond), s.CPU, s.perOp(), s.WritesPerCommit, s.PagesPerWrite, s.Load, s.Errors+f.Errors, firstErr(f, s))
		}
	}
	return bw.Flush()
}

// perOp is the process's CPU time per operation, load generator included.
func (s Sample) perOp() string {
	if s.Rate == 0 || s.CPU == 0 {
		return ""
	}
	return fmt.Sprintf("(%.0f µs/op)", s.CPU/s.Rate*1e6)
}

func dur(ns float64) string { return time.Duration(ns).Round(10 * time.Microsecond).String() }

func firstErr(ss ...Sample) string {
	for _, s := range ss {
		if s.FirstErr != "" {
			return " (first: " + s.FirstErr + ")"
		}
	}
	return ""
}

// thousands writes n, rounded, with comma separators.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(math.Round(n)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
