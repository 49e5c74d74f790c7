package wire

// Error is the body of every refusal, from the API and from the embedded
// blob endpoint alike: {"error":{"code","message","request_id"}}. Code is
// one of core's stable codes; the message is for people; the request id is
// the X-Request-Id of the answer, for the logs.
type Error struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is what an Error says.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}
