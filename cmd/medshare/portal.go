package main

import (
	"log/slog"
	"net"

	"github.com/medshare/medshare/shared/httpapi/portal"
)

// demoSignIn is the demo data the portal may sign in as, or nil: with
// --demo on a loopback listen address only. Elsewhere --demo still seeds
// the demo data and prints its tokens, but the portal offers no demo
// sign-in, so that nobody on the network can take a demo identity.
func demoSignIn(demo bool, addr net.Addr, log *slog.Logger) *portal.Demo {
	if !portal.DemoAllowed(demo, addr) {
		if demo {
			log.Info("demo sign-in is off: the listen address is not a loopback address", "addr", addr.String())
		}
		return nil
	}
	return &portal.Demo{Patient: DemoPatient, Professional: DemoProfessional, Clinic: DemoClinic, Appointment: DemoAppointment}
}
