package httpapi

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document of the HTTP API (openapi.yaml): every
// route of Routes with its request and response schemas, error responses and
// roles. The local server serves it at /openapi.yaml; openapi_test.go keeps it
// in step with the route table.
//
//go:embed openapi.yaml
var OpenAPI []byte
