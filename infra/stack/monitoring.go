package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Alarm thresholds, each over five minutes.
const (
	api5xxThreshold      = 5 // server errors of the API (the functions' own 5xx and API Gateway's)
	fnErrorThreshold     = 1 // invocations that failed (a crash, a timeout, a job that returned an error)
	fnThrottleThreshold  = 1 // invocations refused for concurrency
	deadLetterThreshold  = 1 // job events that could not be delivered or run
	alarmPeriodMinutes   = 5
	alarmEvaluationCount = 1
)

// MonitoringProps are what is watched.
type MonitoringProps struct {
	API        *API
	Functions  *Functions
	Jobs       *Jobs
	LogsKey    awskms.IKey
	AlarmEmail string
}

// Monitoring is the alarms and the topic they notify: API 5xx, each
// function's errors and throttles, and the depth of the jobs' dead-letter
// queue. Log retention is set where each log group is made (Functions,
// API).
type Monitoring struct {
	constructs.Construct
	Topic  awssns.Topic
	Alarms map[string]awscloudwatch.Alarm
}

// NewMonitoring creates the alarms.
func NewMonitoring(scope constructs.Construct, id string, p MonitoringProps) *Monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{Construct: c, Alarms: map[string]awscloudwatch.Alarm{}}
	m.Topic = awssns.NewTopic(c, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("MedShare alarms"),
		MasterKey:   p.LogsKey,
		EnforceSSL:  jsii.Bool(true),
	})
	if p.AlarmEmail != "" {
		m.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(m.Topic)
	period := awscdk.Duration_Minutes(jsii.Number(alarmPeriodMinutes))
	alarm := func(name, what string, metric awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(c, jsii.String(name), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("MedShare: " + what),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(alarmEvaluationCount),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		m.Alarms[name] = a
	}
	sum := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
	alarm("Api5xx", "the API answered 5xx", p.API.HTTPAPI.MetricServerError(sum), api5xxThreshold)
	for _, name := range FunctionNames() {
		fn := p.Functions.ByName[name].Fn
		id := pascal(name)
		alarm(id+"Errors", "function "+name+" failed", fn.MetricErrors(sum), fnErrorThreshold)
		alarm(id+"Throttles", "function "+name+" was throttled", fn.MetricThrottles(sum), fnThrottleThreshold)
	}
	alarm("DeadLetters", "a scheduled job's event is in the dead-letter queue",
		p.Jobs.DeadLetters.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}),
		deadLetterThreshold)
	return m
}
