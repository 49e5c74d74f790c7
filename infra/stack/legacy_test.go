package stack

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

const testLegacyBucket = "old-chat-images"

// TestLegacyMigration synthesizes the stack with a legacy bucket and checks
// the migration's concerns: the bucket is imported, never created; the
// migration function, and no other role, may read it, and only read it;
// the state machine's distributed map invokes the function per line of a
// manifest of either format; cdk-nag passes.
func TestLegacyMigration(t *testing.T) {
	s := synth(t, map[string]string{
		CtxLegacyBucket: testLegacyBucket, CtxLegacyURLPrefix: "https://old-chat.nyc3.digitaloceanspaces.com/", CtxLegacyKeyPrefix: "images/",
	})
	m := s.stack.Legacy
	if m == nil {
		t.Fatal("no migration with a legacy bucket in the context")
	}
	id := func(c any) string { return logicalID(s.stack.Stack, c) }
	legacyARN := "arn:${Partition}:s3:::" + testLegacyBucket

	t.Run("imported, not created", func(t *testing.T) {
		for bid, b := range s.resources("AWS::S3::Bucket") {
			if str(props(b)["BucketName"]) == testLegacyBucket {
				t.Errorf("bucket %s creates the legacy bucket: the stack must only import it", bid)
			}
		}
		for pid, p := range s.resources("AWS::S3::BucketPolicy") {
			if strings.Contains(s.render(props(p)["Bucket"]), testLegacyBucket) {
				t.Errorf("bucket policy %s on the legacy bucket: the stack must not change it", pid)
			}
		}
	})

	t.Run("grant", func(t *testing.T) {
		// Every line of every role's policies that names the legacy bucket
		// belongs to the migration function, and is its read.
		all := s.grants(t)
		var touching []string
		for name, lines := range all {
			for _, l := range lines {
				if strings.Contains(l, testLegacyBucket) {
					touching = append(touching, name+": "+l)
				}
			}
		}
		sort.Strings(touching)
		want := []string{
			MigrationFunction + ": s3:GetObject " + legacyARN + "/*",
			MigrationFunction + ": s3:ListBucket " + legacyARN,
		}
		if diff := cmp.Diff(want, touching); diff != "" {
			t.Errorf("grants on the legacy bucket (-want +got):\n%s", diff)
		}
		// Nothing else in the template names it: the state machine's role,
		// the bucket policies, the key policies.
		var tpl map[string]any
		b, _ := json.Marshal(s.json["Resources"])
		json.Unmarshal(b, &tpl)
		for rid, r := range tpl {
			typ := str(r.(map[string]any)["Type"])
			rb, _ := json.Marshal(r)
			if strings.Contains(string(rb), testLegacyBucket) && rid != id(m.Read.Node().DefaultChild()) && typ != "AWS::Lambda::Function" {
				t.Errorf("%s (%s) names the legacy bucket", rid, typ)
			}
		}
		// The function's role is lambdafn.Permissions rendered, the legacy
		// bucket's lines included.
		var rendered []string
		for _, line := range all[MigrationFunction] {
			if strings.HasPrefix(line, "logs:") || strings.Contains(line, "kms:ViaService") {
				continue
			}
			grant, _, _ := strings.Cut(line, " if ")
			grant = strings.Replace(grant, legacyARN, "legacy", 1)
			rendered = append(rendered, grant)
		}
		if diff := cmp.Diff(lambdafn.Permissions()[MigrationFunction].Grants(), sorted(rendered)); diff != "" {
			t.Errorf("the migration function's role is not its lambdafn.Permissions (-grants +role):\n%s", diff)
		}
	})

	t.Run("function", func(t *testing.T) {
		fn := s.resources("AWS::Lambda::Function")[s.fnIDs()[MigrationFunction]]
		vars := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)
		for k, v := range map[string]string{
			migrate.EnvLegacySource:    "s3://" + testLegacyBucket,
			migrate.EnvLegacyURLPrefix: "https://old-chat.nyc3.digitaloceanspaces.com/",
			migrate.EnvLegacyKeyPrefix: "images/",
		} {
			if got := s.render(vars[k]); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if got := props(fn)["Timeout"]; got != float64(workerTimeout) {
			t.Errorf("timeout %v, want %d", got, workerTimeout)
		}
		// No other function learns where the legacy bucket is.
		for name, fid := range s.fnIDs() {
			if name == MigrationFunction {
				continue
			}
			env, _ := props(s.resources("AWS::Lambda::Function")[fid])["Environment"].(map[string]any)
			if b, _ := json.Marshal(env); strings.Contains(string(b), "LEGACY") {
				t.Errorf("function %s has the legacy settings", name)
			}
		}
	})

	t.Run("state machine", func(t *testing.T) {
		sm := s.resources("AWS::StepFunctions::StateMachine")[id(m.StateMachine.Node().DefaultChild())]
		p := props(sm)
		def := s.render(p["DefinitionString"])
		var d struct {
			StartAt string
			States  map[string]struct {
				Type       string
				Choices    []map[string]any
				ItemReader struct {
					Resource     string
					ReaderConfig map[string]any
					Parameters   map[string]any
				}
				ItemSelector               map[string]any
				ItemProcessor              struct{ ProcessorConfig map[string]any }
				ResultWriter               struct{ Parameters map[string]any }
				MaxConcurrency             float64
				ToleratedFailurePercentage float64
			}
		}
		if err := json.Unmarshal([]byte(def), &d); err != nil {
			t.Fatalf("definition: %v\n%s", err, def)
		}
		maps := map[string]bool{}
		for name, st := range d.States {
			if st.Type != "Map" {
				continue
			}
			maps[name] = true
			if st.ItemProcessor.ProcessorConfig["Mode"] != "DISTRIBUTED" || st.ItemReader.Resource != "arn:${Partition}:states:::s3:getObject" {
				t.Errorf("%s: %+v, want a distributed map reading an S3 object", name, st)
			}
			if st.ItemReader.Parameters["Key.$"] != "$.manifest_key" || !strings.Contains(s.render(st.ItemReader.Parameters["Bucket"]), "LegacyMigrationManifests") {
				t.Errorf("%s reads %v, want the execution's manifest_key in the manifests bucket", name, st.ItemReader.Parameters)
			}
			want := map[string]any{"index.$": "$$.Map.Item.Index", "record.$": "$$.Map.Item.Value", "clinic_id.$": "$.clinic_id", "run.$": "$$.Execution.Name", "dry_run.$": "$.dry_run"}
			for k, v := range want {
				if st.ItemSelector[k] != v {
					t.Errorf("%s: item selector %s = %v, want %v", name, k, st.ItemSelector[k], v)
				}
			}
			if st.MaxConcurrency != MigrationConcurrency || st.ToleratedFailurePercentage != 100 {
				t.Errorf("%s: concurrency %v, tolerated failures %v%%", name, st.MaxConcurrency, st.ToleratedFailurePercentage)
			}
			if st.ResultWriter.Parameters["Prefix"] != ResultPrefix {
				t.Errorf("%s writes its results to %v", name, st.ResultWriter.Parameters)
			}
		}
		if len(maps) != 2 {
			t.Errorf("maps %v, want one per format", maps)
		}
		if !strings.Contains(def, `"ReaderConfig":{"InputType":"CSV","CSVHeaderLocation":"FIRST_ROW"}`) || !strings.Contains(def, `"InputType":"JSONL"`) {
			t.Errorf("readers: want a CSV one (headers in the first row) and a JSON Lines one:\n%s", def)
		}
		if !strings.Contains(def, "fn:"+MigrationFunction) {
			t.Errorf("the definition does not invoke the migration function:\n%s", def)
		}
		logging := p["LoggingConfiguration"].(map[string]any)
		if logging["Level"] != "ALL" || logging["IncludeExecutionData"] != false {
			t.Errorf("logging %v, want every event without the lines' data", logging)
		}
		if tr := p["TracingConfiguration"].(map[string]any); tr["Enabled"] != true {
			t.Errorf("tracing %v", tr)
		}
	})

	t.Run("outputs", func(t *testing.T) {
		outs := s.json["Outputs"].(map[string]any)
		for _, o := range []string{OutMigrationStateMachine, OutMigrationManifests} {
			if _, ok := outs[o]; !ok {
				t.Errorf("no output %s", o)
			}
		}
	})
	t.Run("nag", func(t *testing.T) { testNag(t, s) })
}

// TestNoLegacyMigrationByDefault: without a legacy bucket there is no state
// machine, and the migration function reads no bucket but the stack's.
func TestNoLegacyMigrationByDefault(t *testing.T) {
	s := synth(t, nil)
	if s.stack.Legacy != nil || len(s.resources("AWS::StepFunctions::StateMachine")) != 0 {
		t.Errorf("a migration without a legacy bucket")
	}
	for _, line := range s.grants(t)[MigrationFunction] {
		if strings.Contains(line, "arn:") && !slices.ContainsFunc([]string{"logs:"}, func(p string) bool { return strings.HasPrefix(line, p) }) {
			t.Errorf("the migration function may %s", line)
		}
	}
}
