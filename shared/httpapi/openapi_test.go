package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// openAPIDoc is the part of openapi.yaml that the route table constrains.
type openAPIDoc struct {
	OpenAPI    string                          `yaml:"openapi"`
	Security   []map[string][]string           `yaml:"security"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type         string `yaml:"type"`
			Scheme       string `yaml:"scheme"`
			BearerFormat string `yaml:"bearerFormat"`
		} `yaml:"securitySchemes"`
		Parameters map[string]openAPIParam `yaml:"parameters"`
		Schemas    map[string]struct {
			Enum []string `yaml:"enum"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

type openAPIOp struct {
	OperationID string                 `yaml:"operationId"`
	Summary     string                 `yaml:"summary"`
	Security    *[]map[string][]string `yaml:"security"` // nil: inherits the document's
	Roles       *[]string              `yaml:"x-medshare-roles"`
	Parameters  []openAPIParam         `yaml:"parameters"`
	RequestBody *struct {
		Required bool                 `yaml:"required"`
		Content  map[string]yaml.Node `yaml:"content"`
	} `yaml:"requestBody"`
	Responses map[string]yaml.Node `yaml:"responses"`
}

type openAPIParam struct {
	Ref      string `yaml:"$ref"`
	Name     string `yaml:"name"`
	In       string `yaml:"in"`
	Required bool   `yaml:"required"`
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIOps returns the document's operations keyed by "METHOD /path", and the
// path-level parameters of each path.
func openAPIOps(t *testing.T, doc openAPIDoc) (map[string]openAPIOp, map[string][]openAPIParam) {
	t.Helper()
	ops := map[string]openAPIOp{}
	pathParams := map[string][]openAPIParam{}
	for path, item := range doc.Paths {
		for key, node := range item {
			if key == "parameters" {
				var ps []openAPIParam
				if err := node.Decode(&ps); err != nil {
					t.Fatalf("paths[%s].parameters: %v", path, err)
				}
				pathParams[path] = ps
				continue
			}
			if !slices.Contains(openAPIMethods, strings.ToLower(key)) {
				continue
			}
			if key != strings.ToLower(key) {
				t.Errorf("paths[%s]: method %q must be lowercase", path, key)
			}
			var op openAPIOp
			if err := node.Decode(&op); err != nil {
				t.Fatalf("paths[%s].%s: %v", path, key, err)
			}
			ops[strings.ToUpper(key)+" "+path] = op
		}
	}
	return ops, pathParams
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	return doc
}

func TestOpenAPIVersion(t *testing.T) {
	doc := loadOpenAPI(t)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(doc.OpenAPI) {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	s, ok := doc.Components.SecuritySchemes["bearerAuth"]
	if !ok || s.Type != "http" || s.Scheme != "bearer" || s.BearerFormat != "JWT" {
		t.Errorf("components.securitySchemes.bearerAuth = %+v (present %v), want http bearer JWT", s, ok)
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	ops, _ := openAPIOps(t, doc)

	var want, got []string
	for _, r := range Routes() {
		want = append(want, r.RouteKey())
	}
	for k := range ops {
		got = append(got, k)
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("operations differ from the route table (-Routes +openapi.yaml):\n%s", diff)
	}

	for _, r := range Routes() {
		op, ok := ops[r.RouteKey()]
		if !ok {
			continue // reported above
		}
		t.Run(r.Op, func(t *testing.T) {
			if op.OperationID != r.Op {
				t.Errorf("operationId = %q, want %q", op.OperationID, r.Op)
			}
			if op.Summary != r.Summary {
				t.Errorf("summary = %q, want %q", op.Summary, r.Summary)
			}

			if op.Roles == nil {
				t.Errorf("x-medshare-roles is missing")
			} else {
				wantRoles := []string{}
				for _, role := range r.Roles {
					wantRoles = append(wantRoles, string(role))
				}
				if diff := cmp.Diff(wantRoles, append([]string{}, *op.Roles...)); diff != "" {
					t.Errorf("x-medshare-roles differ from route.Roles (-want +got):\n%s", diff)
				}
			}

			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			if r.Public() {
				if len(security) != 0 {
					t.Errorf("public route has security %v, want security: []", security)
				}
			} else {
				// Every alternative must require the bearer token: an empty
				// alternative ({}) would make the token optional.
				bearer := len(security) > 0
				for _, req := range security {
					if _, ok := req["bearerAuth"]; !ok {
						bearer = false
					}
				}
				if !bearer {
					t.Errorf("route needs a token but its security is %v, want bearerAuth", security)
				}
			}

			// The document's requestBody is the route's Body: the edge refuses
			// a body where the route takes none.
			switch {
			case r.Body == BodyNone && op.RequestBody != nil:
				t.Errorf("documents a requestBody, but the route takes no body")
			case r.Body != BodyNone && op.RequestBody == nil:
				t.Errorf("documents no requestBody, but the route takes one")
			case op.RequestBody != nil:
				if op.RequestBody.Required != (r.Body == BodyRequired) {
					t.Errorf("requestBody.required = %v, want %v", op.RequestBody.Required, r.Body == BodyRequired)
				}
				if _, ok := op.RequestBody.Content["application/json"]; !ok || len(op.RequestBody.Content) != 1 {
					t.Errorf("requestBody content types %v, want only application/json", slices.Collect(maps.Keys(op.RequestBody.Content)))
				}
			}
			// Every route can refuse a body: 400 where it takes none or the
			// body is not strict JSON, 413 where it is too large.
			for _, code := range []string{"400", "413"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("documents no %s response", code)
				}
			}

			var success bool
			for code := range op.Responses {
				success = success || strings.HasPrefix(code, "2")
			}
			if !success {
				t.Errorf("no 2xx response documented")
			}
			if !r.Public() {
				for _, code := range []string{"401", "403"} {
					if _, ok := op.Responses[code]; !ok {
						t.Errorf("route needs a token but documents no %s response", code)
					}
				}
			}
		})
	}
}

var pathParamRE = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIPathParameters(t *testing.T) {
	doc := loadOpenAPI(t)
	ops, pathLevel := openAPIOps(t, doc)
	for key, op := range ops {
		path := key[strings.IndexByte(key, ' ')+1:]
		var want []string
		for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		var got []string
		for _, p := range append(slices.Clone(pathLevel[path]), op.Parameters...) {
			if p.Ref != "" {
				name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
				resolved, found := doc.Components.Parameters[name]
				if !ok || !found {
					t.Errorf("%s: parameter $ref %q does not resolve", key, p.Ref)
					continue
				}
				p = resolved
			}
			if p.In != "path" {
				continue
			}
			if !p.Required {
				t.Errorf("%s: path parameter %q must be required", key, p.Name)
			}
			got = append(got, p.Name)
		}
		slices.Sort(want)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: path parameters differ from the path (-path +declared):\n%s", key, diff)
		}
	}
}

// TestOpenAPIQueryParameters: the query parameters each operation documents
// are exactly the ones its route takes (limit and cursor when Paged, and
// Query), none required; the edge refuses every other.
func TestOpenAPIQueryParameters(t *testing.T) {
	doc := loadOpenAPI(t)
	ops, pathLevel := openAPIOps(t, doc)
	for _, r := range Routes() {
		op, ok := ops[r.RouteKey()]
		if !ok {
			continue // TestOpenAPIMatchesRoutes reports it
		}
		want := slices.Clone(r.Query)
		if r.Paged {
			want = append(want, "limit", "cursor")
		}
		var got []string
		for _, p := range append(slices.Clone(pathLevel[r.Path]), op.Parameters...) {
			if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
				p = doc.Components.Parameters[name]
			}
			if p.In != "query" {
				continue
			}
			if p.Required {
				t.Errorf("%s: query parameter %q must be optional", r.Op, p.Name)
			}
			got = append(got, p.Name)
		}
		slices.Sort(want)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: query parameters differ from the route (-route +openapi.yaml):\n%s", r.Op, diff)
		}
	}
}

// TestOpenAPIErrorCodes checks that the Error schema's code enum is exactly the
// stable codes declared in shared/core/errors.go.
func TestOpenAPIErrorCodes(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../core/errors.go", nil, 0)
	if err != nil {
		t.Fatalf("parse core/errors.go: %v", err)
	}
	var want []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %v", name.Name, err)
				}
				want = append(want, v)
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("found no Code* constants in core/errors.go")
	}
	got := slices.Clone(loadOpenAPI(t).Components.Schemas["ErrorCode"].Enum)
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("components.schemas.ErrorCode.enum differs from core's codes (-core +openapi.yaml):\n%s", diff)
	}
}

// TestOpenAPIRefsResolve checks that every local $ref points at something.
func TestOpenAPIRefsResolve(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(OpenAPI(), &root); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k, v := n.Content[i], n.Content[i+1]; k.Value == "$ref" && v.Kind == yaml.ScalarNode {
					if !resolveRef(&root, v.Value) {
						t.Errorf("line %d: $ref %q does not resolve", v.Line, v.Value)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
}

func resolveRef(root *yaml.Node, ref string) bool {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok || len(root.Content) == 0 {
		return false
	}
	n := root.Content[0]
	for _, seg := range strings.Split(ptr, "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		if n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}

// servedSchemas is components.schemas of the served document.
func servedSchemas(t *testing.T) map[string]struct {
	Properties map[string]yaml.Node `yaml:"properties"`
	Required   []string             `yaml:"required"`
} {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]yaml.Node `yaml:"properties"`
				Required   []string             `yaml:"required"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("parse the served document: %v", err)
	}
	return doc.Components.Schemas
}

// TestOpenAPIBodySchemasMatchGoTypes: each body schema of the served
// document has exactly the JSON fields of its Go type as properties (a
// field of a view missing from its schema fails, and a property that no
// field writes), and a response's required fields are those its type
// always writes.
func TestOpenAPIBodySchemasMatchGoTypes(t *testing.T) {
	schemas := servedSchemas(t)
	for _, s := range bodySchemas() {
		got, ok := schemas[s.name]
		if !ok {
			t.Errorf("components.schemas.%s is missing", s.name)
			continue
		}
		var fields, always []string
		for _, f := range jsonFields(s.typ) {
			fields = append(fields, f.name)
			if !f.omitempty {
				always = append(always, f.name)
			}
		}
		if diff := cmp.Diff(fields, slices.Sorted(maps.Keys(got.Properties)), cmpSorted); diff != "" {
			t.Errorf("components.schemas.%s.properties differ from the fields of %v (-Go +served):\n%s", s.name, s.typ, diff)
		}
		if s.request {
			for _, r := range got.Required {
				if !slices.Contains(fields, r) {
					t.Errorf("components.schemas.%s.required names %q, no field of %v", s.name, r, s.typ)
				}
			}
		} else if diff := cmp.Diff(always, got.Required, cmpSorted); diff != "" {
			t.Errorf("components.schemas.%s.required differs from the fields %v always writes (-Go +served):\n%s", s.name, s.typ, diff)
		}
	}
}

var cmpSorted = cmp.Transformer("sorted", func(s []string) []string { return slices.Sorted(slices.Values(s)) })

// TestOpenAPIBodySchemasAreDerived: every object schema a request or
// response body reaches (through $ref, properties, items, ...) is a body
// schema with its Go type in bodySchemas, so that no body is described by
// hand alone; the paths hold no inline object schema.
func TestOpenAPIBodySchemasAreDerived(t *testing.T) {
	var root map[string]any
	if err := yaml.Unmarshal(OpenAPI(), &root); err != nil {
		t.Fatal(err)
	}
	schemas := root["components"].(map[string]any)["schemas"].(map[string]any)
	derived := map[string]bool{}
	for _, s := range bodySchemas() {
		derived[s.name] = true
	}
	seen := map[string]bool{}
	var walk func(where string, v any, inPaths bool)
	walk = func(where string, v any, inPaths bool) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name, isSchema := strings.CutPrefix(ref, "#/components/schemas/")
				if isSchema && !seen[name] {
					seen[name] = true
					s, _ := schemas[name].(map[string]any)
					if _, obj := s["properties"]; obj && !derived[name] {
						t.Errorf("components.schemas.%s (reached from %s) is a body schema with no Go type in bodySchemas", name, where)
					}
					walk("components.schemas."+name, s, false)
				}
			}
			if _, obj := v["properties"]; obj && inPaths {
				t.Errorf("%s: an inline object schema; name it in components.schemas and give it a Go type in bodySchemas", where)
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(where+"."+k, v[k], inPaths)
			}
		case []any:
			for i, e := range v {
				walk(where+"["+strconv.Itoa(i)+"]", e, inPaths)
			}
		}
	}
	walk("paths", root["paths"], true)
	walk("components.responses", root["components"].(map[string]any)["responses"], true)
	for name := range derived {
		if !seen[name] {
			t.Errorf("components.schemas.%s is in bodySchemas but no body reaches it", name)
		}
	}
}

// TestBuildOpenAPI: the merge itself. A field that the hand-written part
// does not annotate is derived from its Go type (with its doc tag as
// description, required in a response unless omitempty); a property the
// hand-written part gives that is no field of the type is an error.
func TestBuildOpenAPI(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type view struct {
		ID    string            `json:"id"`
		Ref   string            `json:"ref" doc:"The case's reference."`
		At    time.Time         `json:"at"`
		Raw   []byte            `json:"raw,omitempty"`
		Inner inner             `json:"inner"`
		List  []inner           `json:"list"`
		Map   map[string]string `json:"map,omitempty"`
		Opt   *int64            `json:"opt,omitempty"`
	}
	hand := `openapi: 3.1.0
components:
  schemas:
    View:
      type: object
      description: kept
      properties:
        id:
          type: string
          pattern: '^x$'
`
	doc, err := buildOpenAPI([]byte(hand), []schemaOf{responseBody[view]("View"), responseBody[inner]("Inner")})
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := yaml.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"openapi": "3.1.0", "components": map[string]any{"schemas": map[string]any{
		"View": map[string]any{
			"type": "object", "description": "kept",
			"required": []any{"id", "ref", "at", "inner", "list"},
			"properties": map[string]any{
				"id":    map[string]any{"type": "string", "pattern": "^x$"},
				"ref":   map[string]any{"type": "string", "description": "The case's reference."},
				"at":    map[string]any{"type": "string", "format": "date-time"},
				"raw":   map[string]any{"type": "string", "contentEncoding": "base64"},
				"inner": map[string]any{"$ref": "#/components/schemas/Inner"},
				"list":  map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Inner"}},
				"map":   map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
				"opt":   map[string]any{"type": "integer", "format": "int64"},
			},
		},
		"Inner": map[string]any{"type": "object", "required": []any{"n"}, "properties": map[string]any{"n": map[string]any{"type": "integer"}}},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged document mismatch (-want +got):\n%s", diff)
	}

	stale := hand + "        gone:\n          type: string\n"
	if _, err := buildOpenAPI([]byte(stale), []schemaOf{responseBody[view]("View"), responseBody[inner]("Inner")}); err == nil || !strings.Contains(err.Error(), "properties.gone is no field") {
		t.Errorf("a hand-written property with no field: err = %v, want one naming it", err)
	}
}
