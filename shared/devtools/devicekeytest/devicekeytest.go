// Package devicekeytest holds the device public keys the server must refuse,
// for the tests of every layer that sees one.
package devicekeytest

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/medshare/medshare/shared/core"
)

// Key is a public key a device might send that the server must
// refuse at open-access, and why.
type Key struct {
	Name string
	KEM  uint16
	Key  []byte
}

// X25519 public keys that are points of small order, as little-endian
// u-coordinates: every shared secret with one of them is all zeros, whatever
// the other side's key. The canonical ones (below p) come first, then
// encodings of 0 and 1 that are not reduced mod p.
var lowOrderX25519 = []struct{ name, hex string }{
	{"zero", "0000000000000000000000000000000000000000000000000000000000000000"},
	{"one", "0100000000000000000000000000000000000000000000000000000000000000"},
	{"order 8 (a)", "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"},
	{"order 8 (b)", "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"},
	{"p-1", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"p (zero, not reduced)", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"p+1 (one, not reduced)", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
}

// nonCanonicalX25519 are u-coordinates with the top bit set, which RFC 7748
// has receivers mask off: the rest of libsodium's list of small-order
// encodings. Once masked they are ordinary points, but no device generates
// them, and two encodings of one key would be two devices.
var nonCanonicalX25519 = []struct{ name, hex string }{
	{"order 8 (a) + p", "cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880"},
	{"order 8 (b) + p", "4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7"},
	{"2p-1", "d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	{"2p", "daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	{"2p+1", "dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
}

// Bad returns, for each KEM the server offers, public keys it must
// refuse: the wrong length, low-order and non-canonical X25519 points (alone
// and as the X25519 part of the hybrid key), P-256 encodings that are not an
// uncompressed point on the curve, and ML-KEM-768 encapsulation keys that are
// not reduced mod q. It checks its own claims: every low-order point really
// gives an all-zero X25519 shared secret.
func Bad(t testing.TB) []Key {
	t.Helper()
	var out []Key
	add := func(name string, kem uint16, key []byte) {
		out = append(out, Key{Name: name, KEM: kem, Key: key})
	}

	x := Good(t, core.KEMX25519)
	probe, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lowOrderX25519 {
		u, err := hex.DecodeString(p.hex)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ecdh.X25519().NewPublicKey(u)
		if err != nil {
			t.Fatalf("x25519 %s: %v", p.name, err)
		}
		if _, err := probe.ECDH(pub); err == nil {
			t.Fatalf("x25519 %s is not a low-order point: ECDH with it succeeds", p.name)
		}
		add("x25519/low order "+p.name, core.KEMX25519, u)
	}
	for _, p := range nonCanonicalX25519 {
		u, err := hex.DecodeString(p.hex)
		if err != nil {
			t.Fatal(err)
		}
		add("x25519/not canonical "+p.name, core.KEMX25519, u)
	}
	highBit := bytes.Clone(x)
	highBit[31] |= 0x80
	add("x25519/high bit set", core.KEMX25519, highBit)
	// p+9 encodes the base point 9 without reducing it: a non-canonical
	// encoding of a perfectly good point.
	pPlus9, _ := hex.DecodeString("f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	add("x25519/base point + p", core.KEMX25519, pPlus9)
	add("x25519/empty", core.KEMX25519, nil)
	add("x25519/31 bytes", core.KEMX25519, x[:31])
	add("x25519/33 bytes", core.KEMX25519, append(bytes.Clone(x), 0))
	add("x25519/p-256 key", core.KEMX25519, Good(t, core.KEMP256))

	p := Good(t, core.KEMP256)
	add("p256/identity (0x00)", core.KEMP256, []byte{0})
	add("p256/65 zero bytes", core.KEMP256, make([]byte, 65))
	offCurve := bytes.Clone(p)
	offCurve[64] ^= 0x01
	add("p256/off the curve", core.KEMP256, offCurve)
	// x = p, the field's modulus: not a field element at all.
	fieldP, _ := hex.DecodeString("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff")
	add("p256/x not reduced", core.KEMP256, append(append([]byte{4}, fieldP...), p[33:]...))
	compressed := append([]byte{2 | p[64]&1}, p[1:33]...)
	add("p256/compressed", core.KEMP256, compressed)
	wrongTag := bytes.Clone(p)
	wrongTag[0] = 5
	add("p256/wrong tag", core.KEMP256, wrongTag)
	add("p256/x25519 key", core.KEMP256, x)
	add("p256/64 bytes", core.KEMP256, p[1:])

	h := Good(t, core.KEMMLKEM768X25519)
	ek, tx := h[:mlkem.EncapsulationKeySize768], h[mlkem.EncapsulationKeySize768:]
	hybrid := func(ek, tx []byte) []byte { return append(bytes.Clone(ek), tx...) }
	for _, p := range lowOrderX25519[:5] {
		u, _ := hex.DecodeString(p.hex)
		add("hybrid/x25519 part low order "+p.name, core.KEMMLKEM768X25519, hybrid(ek, u))
	}
	highBit = bytes.Clone(tx)
	highBit[31] |= 0x80
	add("hybrid/x25519 part high bit set", core.KEMMLKEM768X25519, hybrid(ek, highBit))
	// The first coefficient is the low 12 bits of the first 1.5 bytes:
	// 0xfff = 4095 is not reduced mod q = 3329.
	unreduced := bytes.Clone(ek)
	unreduced[0], unreduced[1] = 0xff, unreduced[1]|0x0f
	if _, err := mlkem.NewEncapsulationKey768(unreduced); err == nil {
		t.Fatal("ml-kem key with an unreduced coefficient parses")
	}
	add("hybrid/ml-kem coefficient not reduced", core.KEMMLKEM768X25519, hybrid(unreduced, tx))
	add("hybrid/ml-kem all ones", core.KEMMLKEM768X25519, hybrid(bytes.Repeat([]byte{0xff}, len(ek)), tx))
	add("hybrid/ml-kem part only", core.KEMMLKEM768X25519, bytes.Clone(ek))
	add("hybrid/one byte short", core.KEMMLKEM768X25519, h[:len(h)-1])
	add("hybrid/one byte long", core.KEMMLKEM768X25519, append(bytes.Clone(h), 0))
	add("hybrid/x25519 key", core.KEMMLKEM768X25519, x)
	add("hybrid/all zero", core.KEMMLKEM768X25519, make([]byte, len(h)))
	return out
}

// Good returns a fresh, valid serialized public key of kem.
func Good(t testing.TB, kem uint16) []byte {
	t.Helper()
	k, err := hpke.NewKEM(kem)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := k.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv.PublicKey().Bytes()
}
