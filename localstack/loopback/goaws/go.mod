// A nested module, so that this emulator builds with exactly the dependency
// versions its own go.mod selects, and none of them enter the application's
// go.mod. localstack/emulators.sh builds it with -mod=readonly and checks that
// the version required here is the one pinned in localstack/versions.env.
module github.com/medshare/medshare/localstack/loopback/goaws

go 1.26

require (
	github.com/Admiral-Piett/goaws v0.4.5
	github.com/sirupsen/logrus v1.9.0
)

require (
	github.com/ghodss/yaml v1.0.0 // indirect
	github.com/gorilla/mux v1.8.0 // indirect
	github.com/kr/text v0.2.0 // indirect
	golang.org/x/sys v0.5.0 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
