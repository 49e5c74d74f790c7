module github.com/medshare/medshare

go 1.26

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/google/go-cmp v0.7.0
	go.etcd.io/bbolt v1.4.3
	go.yaml.in/yaml/v3 v3.0.4
)

require golang.org/x/sys v0.29.0 // indirect
