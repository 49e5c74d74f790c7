package stack

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbackup"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Backups of the table: one a day, kept BackupRetentionDays days.
const (
	// BackupRetentionDays matches point-in-time recovery's 35 days; longer
	// retention is the organisation's to set (an AWS Backup policy, or a
	// further rule here).
	BackupRetentionDays = 35
	// BackupHourUTC is when the daily backup starts.
	BackupHourUTC = 5
)

// Backup is the AWS Backup plan of the table: a daily backup into a vault
// of its own, encrypted with the data key (the backups hold what the table
// holds), kept when the stack is deleted, and whose recovery points no one
// can delete before their lifecycle does (the vault's access policy denies
// backup:DeleteRecoveryPoint and backup:UpdateRecoveryPointLifecycle to
// every principal).
//
// AWS Backup takes the backups with a role of its own, which has AWS's
// service policy for backups (AWSBackupServiceRolePolicyForBackup) and no
// restore permission: restoring is an operator's act.
type Backup struct {
	constructs.Construct
	Vault     awsbackup.BackupVault
	Plan      awsbackup.BackupPlan
	Selection awsbackup.BackupSelection
}

// NewBackup creates the vault, the plan and its selection of table.
func NewBackup(scope constructs.Construct, id string, table awsdynamodb.ITable, key awskms.IKey) *Backup {
	c := constructs.NewConstruct(scope, jsii.String(id))
	b := &Backup{Construct: c}
	b.Vault = awsbackup.NewBackupVault(c, jsii.String("Vault"), &awsbackup.BackupVaultProps{
		EncryptionKey:              key,
		BlockRecoveryPointDeletion: jsii.Bool(true),
		RemovalPolicy:              awscdk.RemovalPolicy_RETAIN,
	})
	b.Plan = awsbackup.NewBackupPlan(c, jsii.String("Plan"), &awsbackup.BackupPlanProps{
		BackupVault: b.Vault,
		BackupPlanRules: &[]awsbackup.BackupPlanRule{
			awsbackup.NewBackupPlanRule(&awsbackup.BackupPlanRuleProps{
				RuleName: jsii.String("Daily"),
				ScheduleExpression: awsevents.Schedule_Cron(&awsevents.CronOptions{
					Hour:   jsii.String(strconv.Itoa(BackupHourUTC)),
					Minute: jsii.String("0"),
				}),
				DeleteAfter: awscdk.Duration_Days(jsii.Number(BackupRetentionDays)),
			}),
		},
	})
	b.Selection = b.Plan.AddSelection(jsii.String("Table"), &awsbackup.BackupSelectionOptions{
		Resources: &[]awsbackup.BackupResource{awsbackup.BackupResource_FromDynamoDbTable(table)},
	})
	return b
}
