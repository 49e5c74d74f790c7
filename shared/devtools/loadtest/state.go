package loadtest

import (
	"sync"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
)

// What a run keeps of each patient, session and key while it runs, for the
// checks that follow.

type photo struct {
	id    string
	plain []byte
}

type patient struct {
	idx      int
	id       string
	cl       *client.Client
	photos   []photo
	sessions []*session
	started  bool // its setup began: it has an audit chain to verify
	verify   *verification
	checkErr error
}

type verification struct {
	Valid       bool   `json:"valid"`
	Records     uint64 `json:"records"`
	FirstBadSeq uint64 `json:"first_bad_seq"`
	Problem     string `json:"problem"`
}

type revokePlan int

const (
	noRevoke        revokePlan = iota
	revokeAtRandom             // when the run's issued keys reach a random count
	revokeInSession            // after this session's k-th issued key (k = 0: before it opens)
)

// success is an open, issue or claim the server granted, with the time its
// request went on the wire.
type success struct {
	op    string
	id    string
	start time.Time
}

type session struct {
	idx      int
	id       string
	patient  *patient
	viewer   int
	photos   []photo
	maxViews int
	burst    bool

	plan        revokePlan
	revokeAfter int   // revokeInSession: after this many issued keys
	threshold   int64 // revokeAtRandom: when the run's issued keys reach it

	batches []batch // activity to report, in slot order

	mu             sync.Mutex
	issued         int // keys granted
	issueUnknown   int // key requests sent without an answer
	successes      []success
	views          int // photos decrypted and equal to the original
	revokeTried    bool
	revokeReturned time.Time // zero unless the revoke answered 200
	revokeUnknown  bool
	final          *client.Share
	checkErr       error

	// Activity and what the server said about the session. All requests on
	// the session's access come from its one viewer, one after another (the
	// two claims of a double claim both end before the next request), so
	// each answer's score is known exactly (see activityReport).
	nextBatch       int
	reports         []activityReport // answered 200, in order
	reportedDelta   int              // weights of the reports answered 200
	unknownDelta    int              // weights of the reports that may or may not have counted
	failedClaims    int              // claims refused key_used or key_expired: +15 each
	unknownClaims   int              // claims without an answer (or a 5xx): +0 or +15
	lastScore       int              // of the last answer; -1 before the first
	revokedAnswerAt time.Time        // when the first activity answer "revoked" returned
	revokedRefusals int              // 410 session_revoked answers to the viewer
}

// Activity events a viewer's client reports, with their weights on a
// session whose screenshot_policy is warn (every session of the plan).
const (
	evScreenshot      = "screenshot"
	evCopyAttempt     = "copy_attempt"
	evAppBackgrounded = "app_backgrounded"
	failedClaimWeight = 15 // the detector's signal on a claim of a used or expired key
	keyBurstWeight    = 30 // the detector's signal on more issue-key calls in a minute than core.BurstLimit
	warnScore         = 50
	revokeScore       = 100
)

var eventWeights = map[string]int{evScreenshot: 40, evCopyAttempt: 30, evAppBackgrounded: 5}

// Activity actions.
const (
	actionNone    = "none"
	actionWarned  = "warned"
	actionRevoked = "revoked"
)

// batch is one activity report: sent after the slot-th key of its session
// was claimed and viewed (0: right after the open), or when the session
// ends, whichever comes first.
type batch struct {
	slot       int
	events     []string
	delta      int // the sum of the events' weights
	screenshot bool
}

// activityReport is one answer 200 to an activity report. The score it
// must carry is known: lo is the weights of the session's reports answered
// so far, this one included, plus 15 per claim refused key_used or
// key_expired before it was sent; hi adds what may or may not have counted
// (reports and claims without an answer).
type activityReport struct {
	delta      int
	screenshot bool
	lo, hi     int
	prev       int // the previous answer's score; -1 for the first
	score      int
	action     string
	end        time.Time
}

// noteRefusal counts a 410 session_revoked to the session's viewer.
func (s *session) noteRefusal(tr *trace) {
	if tr != nil && tr.code == core.CodeSessionRevoked {
		s.mu.Lock()
		s.revokedRefusals++
		s.mu.Unlock()
	}
}

// revokeSeen is the earliest moment the run knew the session revoked: its
// patient's revoke returned 200, or an activity answer said "revoked". Zero
// when neither happened.
func (s *session) revokeSeen() time.Time {
	t := s.revokeReturned
	if !s.revokedAnswerAt.IsZero() && (t.IsZero() || s.revokedAnswerAt.Before(t)) {
		t = s.revokedAnswerAt
	}
	return t
}

func (s *session) addSuccess(op, id string, start time.Time) {
	s.mu.Lock()
	s.successes = append(s.successes, success{op, id, start})
	s.mu.Unlock()
}

type keyRecord struct {
	session  *session
	claims   int // granted claims
	attempts int
	double   bool
}
