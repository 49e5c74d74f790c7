package httpapi

import (
	"bytes"
	_ "embed"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/medshare/medshare/shared/httpapi/wire"
)

// openAPIHand is the hand-written part of the OpenAPI document
// (openapi.yaml): the paths, their parameters, roles and error answers, the
// enums and formats, and what the Go types cannot say of a body's fields
// (constraints, examples, descriptions, which request fields are
// required). The properties of the body schemas come from the Go types
// (bodySchemas): an entry under a schema's properties there only annotates
// a field of its type.
//
//go:embed openapi.yaml
var openAPIHand []byte

// schemaOf is a body schema of components.schemas and the Go type that is
// its JSON body. A request's required fields are the hand-written part's
// (the Go type reads absent and zero alike); a response's are the fields
// its type always writes (no omitempty).
type schemaOf struct {
	name    string
	typ     reflect.Type
	request bool
}

func requestBody[T any](name string) schemaOf  { return schemaOf{name, reflect.TypeFor[T](), true} }
func responseBody[T any](name string) schemaOf { return schemaOf{name, reflect.TypeFor[T](), false} }

// bodySchemas are the body schemas of the document, each with its Go type.
// TestOpenAPIBodySchemasAreDerived fails on a body schema missing here.
func bodySchemas() []schemaOf {
	return []schemaOf{
		responseBody[errorBody]("Error"),
		requestBody[uploadPresignBody]("UploadPresignRequest"),
		responseBody[wire.Upload]("Upload"),
		responseBody[uploadPresignView]("UploadPresignResponse"),
		responseBody[photoStatusView]("FinalizeUploadResponse"),
		responseBody[wire.Photo]("Photo"),
		responseBody[listView[wire.Photo]]("PhotoPage"),
		responseBody[photoStatusView]("DeletePhotoResponse"),
		requestBody[appointmentBody]("AppointmentRequest"),
		responseBody[appointmentView]("Appointment"),
		requestBody[chatUploadBody]("ChatUploadRequest"),
		responseBody[chatUploadView]("ChatUploadResponse"),
		responseBody[chatFinalizeView]("ChatFinalizeResponse"),
		responseBody[signedURLView]("SignedURL"),
		requestBody[wire.ShareRequest]("CreateSessionRequest"),
		responseBody[wire.SharedPhoto]("SharedPhoto"),
		responseBody[wire.Share]("Share"),
		responseBody[listView[wire.Share]]("SharePage"),
		requestBody[revokeBody]("RevokeSessionRequest"),
		responseBody[revokeView]("RevokeSessionResponse"),
		requestBody[openAccessBody]("OpenAccessRequest"),
		responseBody[wire.Access]("Access"),
		responseBody[wire.IssuedKey]("IssuedKey"),
		requestBody[photoKeyBody]("PhotoKeyRequest"),
		responseBody[wire.OwnerKey]("OwnerKey"),
		responseBody[chatImageView]("ChatImageItem"),
		requestBody[chatResolveBody]("ChatResolveRequest"),
		responseBody[chatResolveView]("ChatResolveResponse"),
		responseBody[listView[chatImageView]]("ChatImagePage"),
		responseBody[notificationView]("Notification"),
		responseBody[listView[notificationView]]("NotificationPage"),
		responseBody[auditView]("AuditRecord"),
		responseBody[listView[auditView]]("AuditPage"),
		responseBody[auditVerificationView]("AuditVerification"),
		requestBody[activityBody]("ActivityReport"),
		requestBody[activityEvent]("ActivityEvent"),
		responseBody[activityView]("ActivityResult"),
		responseBody[healthView]("Health"),
	}
}

// openAPIOnce builds the document on OpenAPI's first call. Nothing
// initialised with the package refers to buildOpenAPI, so that a Lambda
// function, which never calls OpenAPI, links neither it nor the YAML
// library (about 0.5 MB).
var (
	openAPIOnce      sync.Once
	openAPIServed    []byte
	openAPIServedErr error
)

// OpenAPI is the OpenAPI 3.1 document of the HTTP API: every route of
// Routes with its request and response schemas, error responses and roles.
// The local server serves it at /openapi.yaml; openapi_test.go keeps it in
// step with the route table and the Go body types. It is built on first
// use (a function, not a variable, so that no Lambda function parses the
// spec at start).
func OpenAPI() []byte {
	openAPIOnce.Do(func() { openAPIServed, openAPIServedErr = buildOpenAPI(openAPIHand, bodySchemas()) })
	if err := openAPIServedErr; err != nil {
		// The hand-written part and the Go types disagree: a programming
		// error, which TestOpenAPIBuilds reports.
		panic(err)
	}
	return openAPIServed
}

// field is a JSON field of a body type.
type field struct {
	name      string
	typ       reflect.Type
	omitempty bool
	doc       string // the field's doc tag, for a property the hand-written part does not annotate
}

// jsonFields lists the JSON fields of struct type t in order, as
// encoding/json writes them (no embedded structs in bodies: strictjson
// refuses them).
func jsonFields(t reflect.Type) []field {
	var out []field
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
		out = append(out, field{name, f.Type, omit, f.Tag.Get("doc")})
	}
	return out
}

// buildOpenAPI merges the body schemas derived from schemas into the
// hand-written document hand.
func buildOpenAPI(hand []byte, schemas []schemaOf) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(hand, &root); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	comps := lookup(root.Content[0], "components")
	if comps == nil {
		return nil, fmt.Errorf("openapi.yaml: no components")
	}
	all := lookup(comps, "schemas")
	if all == nil {
		all = &yaml.Node{Kind: yaml.MappingNode}
		set(comps, "schemas", all)
	}
	names := map[reflect.Type]string{}
	for _, s := range schemas {
		if _, ok := names[s.typ]; !ok {
			names[s.typ] = s.name
		}
	}
	for _, s := range schemas {
		schema := lookup(all, s.name)
		if schema == nil {
			schema = mapping("type", scalar("object"))
			set(all, s.name, schema)
		}
		hand := lookup(schema, "properties")
		props := &yaml.Node{Kind: yaml.MappingNode}
		var required []string
		fields := jsonFields(s.typ)
		for _, f := range fields {
			p := lookup(hand, f.name)
			if p == nil {
				p = derive(f.typ, s.typ, names)
				if f.doc != "" {
					set(p, "description", scalar(f.doc))
				}
			}
			set(props, f.name, p)
			if !f.omitempty {
				required = append(required, f.name)
			}
		}
		if hand != nil {
			for i := 0; i < len(hand.Content); i += 2 {
				if name := hand.Content[i].Value; !slices.ContainsFunc(fields, func(f field) bool { return f.name == name }) {
					return nil, fmt.Errorf("openapi.yaml: components.schemas.%s.properties.%s is no field of %v", s.name, name, s.typ)
				}
			}
		}
		set(schema, "properties", props)
		if !s.request {
			req := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, r := range required {
				req.Content = append(req.Content, scalar(r))
			}
			set(schema, "required", req)
		}
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return out.Bytes(), nil
}

// derive is the schema of a field of Go type t (in body type in) that the
// hand-written part does not annotate: a $ref to a body schema's type, or
// the JSON type encoding/json writes.
func derive(t reflect.Type, in reflect.Type, names map[reflect.Type]string) *yaml.Node {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := names[t]; ok && t != in {
		return mapping("$ref", scalar("#/components/schemas/"+name))
	}
	switch {
	case t == reflect.TypeFor[time.Time]():
		return mapping("type", scalar("string"), "format", scalar("date-time"))
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return mapping("type", scalar("string"), "contentEncoding", scalar("base64"))
	case t.Kind() == reflect.Slice:
		return mapping("type", scalar("array"), "items", derive(t.Elem(), in, names))
	case t.Kind() == reflect.Map:
		return mapping("type", scalar("object"), "additionalProperties", derive(t.Elem(), in, names))
	case t.Kind() == reflect.Struct:
		props := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range jsonFields(t) {
			set(props, f.name, derive(f.typ, in, names))
		}
		return mapping("type", scalar("object"), "properties", props)
	case t.Kind() == reflect.String:
		return mapping("type", scalar("string"))
	case t.Kind() == reflect.Bool:
		return mapping("type", scalar("boolean"))
	case t.Kind() == reflect.Int64 || t.Kind() == reflect.Uint64:
		return mapping("type", scalar("integer"), "format", scalar("int64"))
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return mapping("type", scalar("integer"))
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return mapping("type", scalar("number"))
	}
	return &yaml.Node{Kind: yaml.MappingNode} // any value
}

// lookup is the value of key in mapping node m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set sets key to v in mapping node m, in place if key is there, else last.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

// mapping is a mapping node of key, value pairs.
func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(kv); i += 2 {
		set(m, kv[i].(string), kv[i+1].(*yaml.Node))
	}
	return m
}
