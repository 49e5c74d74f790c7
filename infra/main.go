// Command infra is the MedShare CDK app: it synthesizes the stack of package
// stack into a cloud assembly (cdk.out), with no AWS credentials and no
// lookups. `make synth` runs it directly; `cdk.json` makes it the app of the
// CDK CLI, which `make deploy` runs on the assembly.
//
//	go run ./infra [-o cdk.out] [-c key=value ...]
//
// Context comes from cdk.json's "context" (or, under the CDK CLI, from the
// CLI), then from -c, which wins. The keys are listed in package stack
// (Ctx*) and in docs/DEPLOY.md. It exits non-zero when synthesis reports an
// error, such as an unsuppressed cdk-nag finding.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"

	"github.com/medshare/medshare/infra/stack"
)

type contextFlags map[string]any

func (c contextFlags) String() string { return fmt.Sprint(map[string]any(c)) }

func (c contextFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	c[k] = val
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("infra", flag.ContinueOnError)
	outdir := fl.String("o", "", "output directory of the cloud assembly (default $CDK_OUTDIR, or cdk.out)")
	overrides := contextFlags{}
	fl.Var(overrides, "c", "context key=value (repeatable); overrides cdk.json")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *outdir == "" {
		*outdir = os.Getenv("CDK_OUTDIR") // set by the CDK CLI
	}
	if *outdir == "" {
		*outdir = "cdk.out"
	}
	ctx := map[string]any{}
	if os.Getenv("CDK_CONTEXT_JSON") == "" {
		// Not under the CLI, which would pass cdk.json's context itself.
		fileCtx, err := cdkJSONContext("cdk.json")
		if err != nil {
			return err
		}
		ctx = fileCtx
	}
	// Asset and path metadata, as the CDK CLI asks for them: `sam local`
	// finds each function's code through aws:asset:path.
	for _, k := range []string{"aws:cdk:enable-asset-metadata", "aws:cdk:enable-path-metadata"} {
		if _, ok := ctx[k]; !ok {
			ctx[k] = true
		}
	}
	for k, v := range overrides {
		ctx[k] = v
	}
	app := stack.NewApp(ctx, *outdir)
	cfg, err := stack.ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	if _, err := stack.New(app, cfg); err != nil {
		return err
	}
	assembly := app.Synth(nil)
	var failed int
	for _, st := range *assembly.Stacks() {
		for _, m := range *st.Messages() {
			if m.Level == cxapi.SynthesisMessageLevel_ERROR {
				failed++
				fmt.Fprintf(os.Stderr, "%s: %v\n", *m.Id, m.Entry.Data)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("synthesis reported %d errors", failed)
	}
	fmt.Printf("synthesized %s into %s\n", cfg.StackName, *assembly.Directory())
	return nil
}

// cdkJSONContext returns the "context" object of the cdk.json at path, or
// an empty one when there is no such file.
func cdkJSONContext(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Context == nil {
		f.Context = map[string]any{}
	}
	return f.Context, nil
}
