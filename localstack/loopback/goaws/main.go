// Command goaws runs GoAws (SNS and SQS, github.com/Admiral-Piett/goaws) on
// one loopback address. Upstream's main listens on "0.0.0.0:"+port with no way
// to choose the interface; this is the same program with the listener moved to
// -listen, which must be a loopback address.
package main

import (
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/Admiral-Piett/goaws/app"
	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("goaws: %v", err)
	}
}

func run() error {
	config := flag.String("config", "", "GoAws YAML configuration file")
	env := flag.String("env", "Local", "environment in the configuration file")
	listen := flag.String("listen", "127.0.0.1:4100", "loopback address to listen on (host:port)")
	debug := flag.Bool("debug", false, "debug logging")
	flag.Parse()

	logrus.SetFormatter(&logrus.JSONFormatter{})
	logrus.SetOutput(os.Stdout)
	logrus.SetLevel(logrus.InfoLevel)
	if *debug {
		logrus.SetLevel(logrus.DebugLevel)
	}
	if *config == "" {
		return errors.New("-config is required (upstream would search the working directory for goaws.yaml)")
	}
	ln, err := listenLoopback(*listen)
	if err != nil {
		return err
	}
	conf.LoadYamlConfig(*config, *env)
	// Queue URLs that GoAws hands out are built from Host and Port.
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	app.CurrentEnvironment.Host = host
	app.CurrentEnvironment.Port = port

	go gosqs.PeriodicTasks(time.Second, make(chan struct{}))
	logrus.Warnf("GoAws listening on: %s", ln.Addr())
	return http.Serve(ln, router.New())
}

func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, errors.New("-listen must be a loopback IP address, got " + addr)
	}
	return net.Listen("tcp", addr)
}
