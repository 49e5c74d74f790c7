package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/medshare/medshare/infra/stack"
)

// samSection returns docs/DEPLOY.md's section on sam local.
func samSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "DEPLOY.md"))
	if err != nil {
		t.Fatal(err)
	}
	const heading = "\n## Running the template with `sam local start-api`\n"
	_, sec, ok := strings.Cut(string(b), heading)
	if !ok {
		t.Fatalf("docs/DEPLOY.md has no section %q", strings.TrimSpace(heading))
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	return sec
}

// TestSamLocalAsDocumented synthesizes the stack as `make synth` does (this
// app, the repository's cdk.json, placeholder binaries in assetDir) and
// checks what docs/DEPLOY.md's sam local instructions rely on: the template
// file they name, each function's asset path (how SAM finds its
// bootstrap), every variable of the documented env.json declared by every
// function it applies to (SAM sets only the variables a template declares),
// and the function and event that `sam local invoke` names.
func TestSamLocalAsDocumented(t *testing.T) {
	sec := samSection(t)

	// The documented env.json: "Parameters" for every function, or objects
	// named by a function's logical id.
	_, rest, ok := strings.Cut(sec, "```json\n")
	if !ok {
		t.Fatal("the sam local section shows no env.json")
	}
	envJSON, _, _ := strings.Cut(rest, "```")
	var env map[string]map[string]string
	if err := json.Unmarshal([]byte(envJSON), &env); err != nil {
		t.Fatalf("the documented env.json does not parse: %v\n%s", err, envJSON)
	}
	if len(env) == 0 {
		t.Fatal("the documented env.json is empty")
	}

	tplRE := regexp.MustCompile(`sam local start-api -t (\S+) --env-vars env\.json`)
	m := tplRE.FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("the sam local section has no `sam local start-api -t TEMPLATE --env-vars env.json`")
	}
	if want := "cdk.out/" + stack.DefaultStackName + ".template.json"; m[1] != want {
		t.Errorf("the documented template is %s; make synth writes %s", m[1], want)
	}

	// Placeholder bootstraps: synthesis needs the files, not real builds.
	assets := t.TempDir()
	for _, name := range stack.FunctionNames() {
		if err := os.MkdirAll(filepath.Join(assets, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(assets, name, "bootstrap"), []byte("placeholder\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	t.Chdir("..") // the repository root, as make synth runs it, with its cdk.json
	t.Setenv("CDK_CONTEXT_JSON", "")
	if err := run([]string{"-o", out, "-c", "assetDir=" + assets}); err != nil {
		t.Fatalf("synthesis: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(out, filepath.Base(m[1])))
	if err != nil {
		t.Fatalf("make synth writes no %s: %v", filepath.Base(m[1]), err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Metadata   map[string]any `json:"Metadata"`
			Properties struct {
				Environment struct {
					Variables map[string]any `json:"Variables"`
				} `json:"Environment"`
			} `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	var fns []string
	for id, r := range tpl.Resources {
		// The portal's deployment handler (aws-cdk-lib's BucketDeployment
		// function) runs only while CloudFormation deploys: it is not one
		// of the service's functions, and sam local has nothing to run it
		// for.
		if path, _ := r.Metadata["aws:cdk:path"].(string); r.Type == "AWS::Lambda::Function" && !strings.Contains(path, "Custom::CDKBucketDeployment") {
			fns = append(fns, id)
		}
	}
	slices.Sort(fns)
	if len(fns) != len(stack.FunctionNames()) {
		t.Errorf("the template has %d functions, want %d", len(fns), len(stack.FunctionNames()))
	}
	for _, id := range fns {
		r := tpl.Resources[id]
		if p, _ := r.Metadata["aws:asset:path"].(string); p == "" {
			t.Errorf("%s has no aws:asset:path: SAM cannot find its bootstrap", id)
		}
		for scope, vars := range env {
			if scope != "Parameters" && scope != id {
				continue
			}
			for k := range vars {
				if _, ok := r.Properties.Environment.Variables[k]; !ok {
					t.Errorf("%s does not declare %s, so SAM ignores env.json's %s for it", id, k, k)
				}
			}
		}
	}
	for scope := range env {
		if scope != "Parameters" && !slices.Contains(fns, scope) {
			t.Errorf("env.json names %s, which is no function's logical id", scope)
		}
	}

	invokeRE := regexp.MustCompile(`sam local invoke (\w+)<hash> -t (\S+) -e (\S+)`)
	inv := invokeRE.FindStringSubmatch(sec)
	if inv == nil {
		t.Fatal("the sam local section has no `sam local invoke ID<hash> -t TEMPLATE -e EVENT`")
	}
	if !slices.ContainsFunc(fns, func(id string) bool { return strings.HasPrefix(id, inv[1]) }) {
		t.Errorf("no function's logical id starts with %s: %v", inv[1], fns)
	}
	if inv[2] != m[1] {
		t.Errorf("sam local invoke uses template %s, start-api %s", inv[2], m[1])
	}
	if _, err := os.Stat(inv[3]); err != nil {
		t.Errorf("the documented event %s: %v", inv[3], err)
	}
}
