package embedded

import (
	"net"
	"os"
	"syscall"
)

// sameUser wraps the admin socket's listener so that it drops connections
// from any user but the server's own (and root, who can read the data
// directory anyway): SO_PEERCRED, checked on top of the socket's mode.
func sameUser(ln net.Listener) net.Listener {
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		return ln
	}
	return &peerListener{UnixListener: ul, uid: uint32(os.Getuid())}
}

type peerListener struct {
	*net.UnixListener
	uid uint32
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if l.allowed(c) {
			return c, nil
		}
		c.Close()
	}
}

func (l *peerListener) allowed(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false
	}
	return cred.Uid == l.uid || cred.Uid == 0
}
