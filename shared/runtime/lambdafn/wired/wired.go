// Package wired builds any function by name, with the Links lambdafn.Uses
// lists for it: what its generated main builds, for the tests and commands
// that wire many functions in one process. A Lambda function never imports
// it (it links every service).
package wired

import (
	"context"
	"fmt"

	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/cdnfn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/kmsfn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/migratefn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/s3fn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/s3presignfn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/snsfn"
)

// byService is every Link, by service name.
var byService = map[string]lambdafn.Link{
	lambdafn.S3:  s3fn.Link,
	lambdafn.KMS: kmsfn.Link,
	lambdafn.SNS: snsfn.Link,
	lambdafn.CDN: cdnfn.Link,
}

// Links returns the Links of function name, in the order of lambdafn.Uses,
// with S3's presigner alone for a function that only presigns downloads
// (lambdafn.LinkPackage), as its main has.
func Links(name string) ([]lambdafn.Link, error) {
	uses, ok := lambdafn.Uses(name)
	if !ok {
		return nil, fmt.Errorf("links of %q: not a function of lambdafn.Uses", name)
	}
	var out []lambdafn.Link
	for _, s := range uses {
		l, ok := byService[s]
		if !ok {
			return nil, fmt.Errorf("links of %s: no Link for service %q", name, s)
		}
		if s == lambdafn.S3 && lambdafn.Permissions()[name].SignsOnly() {
			l = s3presignfn.Link
		}
		out = append(out, l)
	}
	return out, nil
}

// Build is lambdafn.Build of operation op with its Links.
func Build(ctx context.Context, op string, getenv func(string) string) (lambdafn.Handler, error) {
	return BuildWith(ctx, lambdafn.Options{}, op, getenv)
}

// BuildWith is Build with options (lambdafn.Options.Build).
func BuildWith(ctx context.Context, o lambdafn.Options, op string, getenv func(string) string) (lambdafn.Handler, error) {
	route, ok := httpapi.RouteByOp(op)
	if !ok {
		return nil, fmt.Errorf("build function: unknown operation %q", op)
	}
	links, err := Links(op)
	if err != nil {
		return nil, err
	}
	return o.Build(ctx, route, getenv, links...)
}

// BuildJob is lambdafn.BuildJob of job name with its Links.
func BuildJob(ctx context.Context, name string, getenv func(string) string) (lambdafn.JobHandler, error) {
	return BuildJobWith(ctx, lambdafn.Options{}, name, getenv)
}

// BuildJobWith is BuildJob with options (lambdafn.Options.BuildJob).
func BuildJobWith(ctx context.Context, o lambdafn.Options, name string, getenv func(string) string) (lambdafn.JobHandler, error) {
	links, err := Links(name)
	if err != nil {
		return nil, err
	}
	return o.BuildJob(ctx, name, getenv, links...)
}

// BuildWorkerWith builds the worker name (lambdafn.Workers: the migration
// function) with its Links and options.
func BuildWorkerWith(ctx context.Context, o lambdafn.Options, name string, getenv func(string) string) (migratefn.Handler, error) {
	if name != migratefn.Name {
		return nil, fmt.Errorf("build function: unknown worker %q", name)
	}
	links, err := Links(name)
	if err != nil {
		return nil, err
	}
	return migratefn.BuildWith(ctx, o, getenv, links...)
}
