package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/medshare/medshare/shared/jobs"
)

// Delivery of a schedule's event to its function: EventBridge retries a
// failed delivery (the function throttled or unavailable) this often within
// this age, then sends the event to the dead-letter queue.
const (
	scheduleRetries   = 4
	scheduleMaxAgeHrs = 1
)

// Jobs runs the scheduled jobs of package jobs: one EventBridge rule per job
// with the job's own schedule expression, targeting its function. A failed
// delivery is retried by EventBridge, a failed run by Lambda (two retries,
// see Functions); either way, what is still failing lands in DeadLetters,
// whose depth is alarmed on (Monitoring). The jobs are idempotent, so a
// retried event does the same run again.
type Jobs struct {
	constructs.Construct
	DeadLetters awssqs.Queue
	Rules       map[string]awsevents.Rule
}

// NewJobs creates the dead-letter queue; Schedule creates the rules once
// the functions exist (they send their failed runs to the queue).
func NewJobs(scope constructs.Construct, id string) *Jobs {
	c := constructs.NewConstruct(scope, jsii.String(id))
	q := awssqs.NewQueue(c, jsii.String("DeadLetters"), &awssqs.QueueProps{
		// The events are EventBridge schedule events: no PHI, no ids.
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	return &Jobs{Construct: c, DeadLetters: q, Rules: map[string]awsevents.Rule{}}
}

// Schedule creates one rule per job of jobs.Jobs.
func (j *Jobs) Schedule(fns *Functions) {
	for _, job := range jobs.Jobs {
		rule := awsevents.NewRule(j.Construct, jsii.String(pascal(job.Name)+"Schedule"), &awsevents.RuleProps{
			Description: jsii.String("MedShare job " + job.Name + ": " + job.Summary),
			Schedule:    awsevents.Schedule_Expression(jsii.String(job.Schedule)),
		})
		rule.AddTarget(awseventstargets.NewLambdaFunction(fns.ByName[job.Name].Fn, &awseventstargets.LambdaFunctionProps{
			RetryAttempts:   jsii.Number(scheduleRetries),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(scheduleMaxAgeHrs)),
			DeadLetterQueue: j.DeadLetters,
		}))
		j.Rules[job.Name] = rule
	}
}
