package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// Synthesis starts a node process and takes seconds on a small machine, so
// each configuration is synthesized once per test process and its template
// shared by the subtests.

// synthesized is one synthesized stack.
type synthesized struct {
	stack    *Stack
	template assertions.Template
	json     map[string]any // the template as JSON
	// ids maps the logical ids of the stack's main resources to the names
	// the tests use for them ("table", "bucket", "key", ..., and
	// "role:<function>" for the functions' roles).
	ids map[string]string
	// fns maps function names to their logical ids; fnLogs maps the
	// logical ids of their log groups to the function names.
	fns, fnLogs map[string]string
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]*synthesized{}
)

// synth returns the stack synthesized with context ctx (assetDir is set to a
// directory of placeholder bootstraps), synthesizing it on first use.
func synth(t *testing.T, ctx map[string]string) *synthesized {
	t.Helper()
	key := fmt.Sprint(ctx)
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthCache[key]; ok {
		return s
	}
	assets, err := placeholderAssets()
	if err != nil {
		t.Fatal(err)
	}
	// The cloud assembly outlives the test that first synthesizes this
	// configuration: later tests share the synthesis, and cdk-nag writes
	// its reports there again when they read the annotations. TestMain
	// removes it.
	outdir, err := os.MkdirTemp(assets, "cdk.out-")
	if err != nil {
		t.Fatal(err)
	}
	app := NewApp(nil, outdir)
	cfg, err := ParseConfig(func(k string) string {
		switch k {
		case CtxAssetDir:
			return assets
		case CtxPortalDir:
			// The committed portal, as `make deploy` would deploy it.
			return filepath.Join("..", "..", DefaultPortalDir)
		}
		return ctx[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := New(app, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tpl := assertions.Template_FromStack(st.Stack, nil)
	s := &synthesized{stack: st, template: tpl, json: *tpl.ToJSON()}
	s.ids = map[string]string{
		logicalID(st.Stack, st.Data.Table.Node().DefaultChild()):       "table",
		logicalID(st.Stack, st.Storage.Bucket.Node().DefaultChild()):   "bucket",
		logicalID(st.Stack, st.Storage.Logs.Node().DefaultChild()):     "logbucket",
		logicalID(st.Stack, st.Keys.Data.Node().DefaultChild()):        "key",
		logicalID(st.Stack, st.Keys.Logs.Node().DefaultChild()):        "logskey",
		logicalID(st.Stack, st.Events.Topic.Node().DefaultChild()):     "topic",
		logicalID(st.Stack, st.Monitoring.Topic.Node().DefaultChild()): "alarmtopic",
		logicalID(st.Stack, st.Jobs.DeadLetters.Node().DefaultChild()): "dlq",
	}
	s.fns, s.fnLogs = map[string]string{}, map[string]string{}
	for name, f := range st.Functions.ByName {
		s.fns[name] = logicalID(st.Stack, f.Fn.Node().DefaultChild())
		s.fnLogs[logicalID(st.Stack, f.LogGroup.Node().DefaultChild())] = name
		s.ids[logicalID(st.Stack, f.Role.Node().DefaultChild())] = "role:" + name
	}
	s.ids[logicalID(st.Stack, st.Backup.Vault.Node().DefaultChild())] = "vault"
	s.ids[logicalID(st.Stack, st.API.HTTPAPI.Node().DefaultChild())] = "api"
	s.ids[logicalID(st.Stack, st.Portal.Bucket.Node().DefaultChild())] = "portalbucket"
	s.ids[logicalID(st.Stack, st.Portal.Logs.Node().DefaultChild())] = "cdnlogs"
	s.ids[logicalID(st.Stack, st.Portal.Distribution.Node().DefaultChild())] = "cdn"
	s.ids[logicalID(st.Stack, st.Portal.DeployRole.Node().DefaultChild())] = "deployrole"
	if st.Portal.Client != nil {
		s.ids[logicalID(st.Stack, st.Portal.Client.Node().DefaultChild())] = "portalclient"
		s.ids[logicalID(st.Stack, st.Portal.Domain.Node().DefaultChild())] = "signin"
	}
	synthCache[key] = s
	return s
}

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// placeholderAssets makes a directory with a placeholder bootstrap per
// function, so that synthesis needs no `make build`.
func placeholderAssets() (string, error) {
	assetsOnce.Do(func() {
		assetsDir, assetsErr = os.MkdirTemp("", "medshare-assets-")
		if assetsErr != nil {
			return
		}
		for _, name := range FunctionNames() {
			dir := filepath.Join(assetsDir, name)
			if assetsErr = os.MkdirAll(dir, 0o755); assetsErr != nil {
				return
			}
			if assetsErr = os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("placeholder "+name+"\n"), 0o755); assetsErr != nil {
				return
			}
		}
	})
	return assetsDir, assetsErr
}

func TestMain(m *testing.M) {
	code := m.Run()
	if assetsDir != "" {
		os.RemoveAll(assetsDir)
	}
	os.Exit(code)
}

func logicalID(st awscdk.Stack, c any) string {
	el, ok := c.(awscdk.CfnElement)
	if !ok {
		panic(fmt.Sprintf("%T is not a CfnElement", c))
	}
	return st.Resolve(st.GetLogicalId(el)).(string)
}

// resources returns the template's resources of type typ, by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// bucketStatements returns the statements of the bucket policies on the
// bucket whose logical id is bucketID.
func (s *synthesized) bucketStatements(bucketID string) []map[string]any {
	var out []map[string]any
	for _, bp := range s.resources("AWS::S3::BucketPolicy") {
		if str(props(bp)["Bucket"].(map[string]any)["Ref"]) != bucketID {
			continue
		}
		for _, st := range asList(props(bp)["PolicyDocument"].(map[string]any)["Statement"]) {
			out = append(out, st.(map[string]any))
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// fnIDs maps each function name to its function's logical id.
func (s *synthesized) fnIDs() map[string]string { return s.fns }

// render turns a CloudFormation value into text, naming the stack's main
// resources ("table", "bucket", ...) and pseudo parameters (${Region}).
func (s *synthesized) render(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			parts = append(parts, s.render(p))
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			if name, ok := strings.CutPrefix(ref, "AWS::"); ok {
				return "${" + name + "}"
			}
			return s.name(ref)
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok {
			return s.name(ga[0].(string))
		}
		if sub, ok := v["Fn::Sub"].(string); ok {
			return strings.ReplaceAll(sub, "${AWS::", "${")
		}
		if j, ok := v["Fn::Join"].([]any); ok {
			var b strings.Builder
			for i, p := range j[1].([]any) {
				if i > 0 {
					b.WriteString(j[0].(string))
				}
				b.WriteString(s.render(p))
			}
			return b.String()
		}
	}
	return fmt.Sprintf("%v", v)
}

func (s *synthesized) name(logical string) string {
	if n, ok := s.ids[logical]; ok {
		return n
	}
	for name, id := range s.fnIDs() {
		if id == logical {
			return "fn:" + name
		}
	}
	if name, ok := s.fnLogs[logical]; ok {
		return "logs:" + name
	}
	return logical
}

// conditions renders a policy statement's Condition block, sorted.
func (s *synthesized) conditions(c any) string {
	m, _ := c.(map[string]any)
	if len(m) == 0 {
		return ""
	}
	var ops []string
	for op, kv := range m {
		var pairs []string
		for k, v := range kv.(map[string]any) {
			pairs = append(pairs, k+"="+s.render(v))
		}
		sort.Strings(pairs)
		ops = append(ops, op+"{"+strings.Join(pairs, "; ")+"}")
	}
	sort.Strings(ops)
	return strings.Join(ops, " ")
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func str(v any) string { s, _ := v.(string); return s }
