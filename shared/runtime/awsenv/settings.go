package awsenv

import (
	"fmt"
	"strconv"
)

// Environment variables that name the AWS resources MedShare uses.
const (
	EnvTable     = "MEDSHARE_TABLE"         // DynamoDB table name
	EnvBucket    = "MEDSHARE_BUCKET"        // S3 bucket of objects
	EnvKeyID     = "MEDSHARE_KMS_KEY_ID"    // KMS key id, ARN or alias that wraps data keys
	EnvTopicARN  = "MEDSHARE_TOPIC_ARN"     // SNS topic of notifications
	EnvPathStyle = "MEDSHARE_S3_PATH_STYLE" // "true" for S3 endpoints without virtual hosts (emulators)
)

// Settings name the resources the AWS runtime uses.
type Settings struct {
	Table, Bucket, KeyID, TopicARN string
	PathStyle                      bool
}

// SettingsFromEnv reads Settings; every name is required.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{Table: getenv(EnvTable), Bucket: getenv(EnvBucket), KeyID: getenv(EnvKeyID), TopicARN: getenv(EnvTopicARN)}
	for _, v := range []struct{ name, value string }{{EnvTable, s.Table}, {EnvBucket, s.Bucket}, {EnvKeyID, s.KeyID}, {EnvTopicARN, s.TopicARN}} {
		if v.value == "" {
			return s, fmt.Errorf("%s is required for the aws backend", v.name)
		}
	}
	if v := getenv(EnvPathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("%s=%q: want true or false", EnvPathStyle, v)
		}
		s.PathStyle = b
	}
	return s, nil
}

// Env renders settings as the environment the functions read.
func (s Settings) Env() map[string]string {
	return map[string]string{EnvTable: s.Table, EnvBucket: s.Bucket, EnvKeyID: s.KeyID, EnvTopicARN: s.TopicARN}
}
