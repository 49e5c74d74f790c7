package awstest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SQS is a minimal SQS client for tests that speaks the query protocol (form
// posts, XML answers), signed with SigV4. The SDK's SQS client speaks only
// the JSON protocol, which GoAws v0.4.5 does not understand (it routes on the
// form field Action); AWS answers both. Tests use it to subscribe a queue to
// an SNS topic and read what was published.
type SQS struct {
	endpoint string
	region   string
	creds    aws.CredentialsProvider
	signer   *v4.Signer
	client   *http.Client
}

// NewSQS returns a query-protocol client for AWS_ENDPOINT_URL_SQS, with the
// region and credentials of cfg. It skips or fails t like Config.
func NewSQS(t testing.TB, cfg aws.Config) *SQS {
	t.Helper()
	Require(t)
	endpoint := os.Getenv("AWS_ENDPOINT_URL_SQS")
	if endpoint == "" {
		t.Fatal("AWS_ENDPOINT_URL_SQS is not set: source the env file of localstack/emulators.sh")
	}
	return &SQS{
		endpoint: strings.TrimSuffix(endpoint, "/") + "/",
		region:   cfg.Region,
		creds:    cfg.Credentials,
		signer:   v4.NewSigner(),
		client:   &http.Client{Timeout: 30 * time.Second},
	}
}

// SQSMessage is one received message. Attributes are the SQS message
// attributes (set by raw SNS delivery), by name, string values only;
// AttributeTypes are their data types ("String", "Number", "Binary"), by
// name, so that a test can check what type a publisher set.
type SQSMessage struct {
	ID             string
	ReceiptHandle  string
	Body           string
	Attributes     map[string]string
	AttributeTypes map[string]string
}

// CreateQueue creates the queue and returns its URL and ARN.
func (c *SQS) CreateQueue(ctx context.Context, name string) (queueURL, arn string, err error) {
	var out struct {
		URL string `xml:"CreateQueueResult>QueueUrl"`
	}
	if err := c.call(ctx, "CreateQueue", url.Values{"QueueName": {name}}, &out); err != nil {
		return "", "", err
	}
	var attrs struct {
		Attr []struct {
			Name  string `xml:"Name"`
			Value string `xml:"Value"`
		} `xml:"GetQueueAttributesResult>Attribute"`
	}
	if err := c.call(ctx, "GetQueueAttributes", url.Values{"QueueUrl": {out.URL}, "AttributeName.1": {"QueueArn"}}, &attrs); err != nil {
		return "", "", err
	}
	for _, a := range attrs.Attr {
		if a.Name == "QueueArn" {
			return out.URL, a.Value, nil
		}
	}
	return "", "", fmt.Errorf("sqs create queue %s: no QueueArn attribute", name)
}

// DeleteQueue deletes the queue.
func (c *SQS) DeleteQueue(ctx context.Context, queueURL string) error {
	return c.call(ctx, "DeleteQueue", url.Values{"QueueUrl": {queueURL}}, nil)
}

// Receive returns up to max messages, waiting at most wait for the first.
func (c *SQS) Receive(ctx context.Context, queueURL string, max int, wait time.Duration) ([]SQSMessage, error) {
	var out struct {
		Messages []struct {
			ID            string `xml:"MessageId"`
			ReceiptHandle string `xml:"ReceiptHandle"`
			Body          string `xml:"Body"`
			Attrs         []struct {
				Name     string `xml:"Name"`
				DataType string `xml:"Value>DataType"`
				Value    string `xml:"Value>StringValue"`
			} `xml:"MessageAttribute"`
		} `xml:"ReceiveMessageResult>Message"`
	}
	params := url.Values{
		"QueueUrl":               {queueURL},
		"MaxNumberOfMessages":    {strconv.Itoa(max)},
		"WaitTimeSeconds":        {strconv.Itoa(int(wait / time.Second))},
		"MessageAttributeName.1": {"All"},
	}
	if err := c.call(ctx, "ReceiveMessage", params, &out); err != nil {
		return nil, err
	}
	msgs := make([]SQSMessage, 0, len(out.Messages))
	for _, m := range out.Messages {
		sm := SQSMessage{ID: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Attributes: map[string]string{}, AttributeTypes: map[string]string{}}
		for _, a := range m.Attrs {
			sm.Attributes[a.Name] = a.Value
			sm.AttributeTypes[a.Name] = a.DataType
		}
		msgs = append(msgs, sm)
	}
	return msgs, nil
}

// DeleteMessage deletes one received message.
func (c *SQS) DeleteMessage(ctx context.Context, queueURL, receiptHandle string) error {
	return c.call(ctx, "DeleteMessage", url.Values{"QueueUrl": {queueURL}, "ReceiptHandle": {receiptHandle}}, nil)
}

func (c *SQS) call(ctx context.Context, action string, params url.Values, out any) error {
	params.Set("Action", action)
	params.Set("Version", "2012-11-05")
	body := params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("sqs %s: %w", action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("sqs %s: credentials: %w", action, err)
	}
	sum := sha256.Sum256([]byte(body))
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sqs", c.region, time.Now()); err != nil {
		return fmt.Errorf("sqs %s: sign: %w", action, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("sqs %s: %w", action, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("sqs %s: read answer: %w", action, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code    string `xml:"Error>Code"`
			Message string `xml:"Error>Message"`
		}
		_ = xml.Unmarshal(b, &e)
		return fmt.Errorf("sqs %s: status %d: %s %s", action, resp.StatusCode, e.Code, e.Message)
	}
	if out == nil {
		return nil
	}
	if err := xml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("sqs %s: decode answer: %w", action, err)
	}
	return nil
}
