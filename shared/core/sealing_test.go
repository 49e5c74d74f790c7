package core_test

import (
	"bytes"
	"crypto/hpke"
	"fmt"
	"testing"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/devicekeytest"
)

// TestSealedKeys: a key sealed to one device opens only with that device's
// private key and only under the exact info (key, photo, access); any change
// of the sealed bytes fails. For every KEM the server offers.
func TestSealedKeys(t *testing.T) {
	dataKey := bytes.Repeat([]byte{0x42}, 32)
	for _, kemID := range core.KEMs {
		t.Run(fmt.Sprintf("kem %#04x", kemID), func(t *testing.T) {
			kem, err := hpke.NewKEM(kemID)
			if err != nil {
				t.Fatal(err)
			}
			device, _ := kem.GenerateKey()
			other, _ := kem.GenerateKey()
			info := core.SealInfo("ek_a", "ph_b", "ac_c")
			sealed, err := core.SealKey(kemID, device.PublicKey().Bytes(), dataKey, info)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed, dataKey) {
				t.Fatal("the sealed key contains the data key")
			}
			got, err := core.OpenKey(device, sealed, info)
			if err != nil || !bytes.Equal(got, dataKey) {
				t.Fatalf("open with the device key: %v", err)
			}
			if _, err := core.OpenKey(other, sealed, info); err == nil {
				t.Error("another device's private key opened the sealed key")
			}
			for name, wrong := range map[string][]byte{
				"other key id":   core.SealInfo("ek_x", "ph_b", "ac_c"),
				"other photo":    core.SealInfo("ek_a", "ph_x", "ac_c"),
				"other access":   core.SealInfo("ek_a", "ph_b", "ac_x"),
				"shifted fields": core.SealInfo("ek_a\x00ph_b", "", "ac_c"),
				"no info":        nil,
			} {
				if _, err := core.OpenKey(device, sealed, wrong); err == nil {
					t.Errorf("opened under %s", name)
				}
			}
			for i := 0; i < len(sealed); i += len(sealed) / 7 {
				tampered := bytes.Clone(sealed)
				tampered[i] ^= 0x01
				if _, err := core.OpenKey(device, tampered, info); err == nil {
					t.Errorf("opened with byte %d flipped", i)
				}
			}
			if _, err := core.OpenKey(device, sealed[:len(sealed)-1], info); err == nil {
				t.Error("opened a truncated sealed key")
			}
		})
	}
}

func TestParseDeviceKey(t *testing.T) {
	kem, _ := hpke.NewKEM(core.KEMX25519)
	priv, _ := kem.GenerateKey()
	pub := priv.PublicKey().Bytes()
	for _, c := range []struct {
		name string
		kem  uint16
		pub  []byte
		ok   bool
	}{
		{"x25519", core.KEMX25519, pub, true},
		{"unknown kem", 0x0011, pub, false},
		{"kem zero", 0, pub, false},
		{"x25519 key for p-256", core.KEMP256, pub, false},
		{"short key", core.KEMX25519, pub[:31], false},
		{"empty key", core.KEMX25519, nil, false},
		{"huge key", core.KEMMLKEM768X25519, make([]byte, 5000), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := core.ParseDeviceKey(c.kem, c.pub)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if err != nil && core.KindOf(err) != core.KindInvalid {
				t.Errorf("kind %v, want invalid", core.KindOf(err))
			}
		})
	}
}

// TestBadDeviceKeysRefused: every key of devicekeytest.Bad is refused by
// ValidateDeviceKey as invalid input, so it never reaches a store, and
// SealKey refuses it as invalid input too (never an internal error), so even a
// key stored before validation existed cannot turn issue-key into a 5xx. A
// fresh key of each KEM passes both.
func TestBadDeviceKeysRefused(t *testing.T) {
	info := core.SealInfo("ek_a", "ph_b", "ac_c")
	dataKey := bytes.Repeat([]byte{7}, 32)
	for _, k := range devicekeytest.Bad(t) {
		t.Run(k.Name, func(t *testing.T) {
			err := core.ValidateDeviceKey(k.KEM, k.Key)
			if core.KindOf(err) != core.KindInvalid {
				t.Errorf("ValidateDeviceKey: %v (kind %v), want invalid", err, core.KindOf(err))
			}
			if _, err := core.SealKey(k.KEM, k.Key, dataKey, info); core.KindOf(err) != core.KindInvalid {
				t.Errorf("SealKey: %v (kind %v), want invalid", err, core.KindOf(err))
			}
		})
	}
	for _, kem := range core.KEMs {
		t.Run(fmt.Sprintf("good %#04x", kem), func(t *testing.T) {
			if err := core.ValidateDeviceKey(kem, devicekeytest.Good(t, kem)); err != nil {
				t.Errorf("ValidateDeviceKey: %v", err)
			}
		})
	}
}

// BenchmarkValidateDeviceKey measures what open-access spends on checking a
// device key, trial seal included, per KEM.
func BenchmarkValidateDeviceKey(b *testing.B) {
	for _, kem := range core.KEMs {
		pub := devicekeytest.Good(b, kem)
		b.Run(fmt.Sprintf("kem %#04x", kem), func(b *testing.B) {
			for b.Loop() {
				if err := core.ValidateDeviceKey(kem, pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
