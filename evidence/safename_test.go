package evidence

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafeName(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "report.pdf", "report.pdf"},
		{"unicode kept", "Výpadek služby.pdf", "Výpadek služby.pdf"},
		{"parent traversal", "../../etc/passwd", "passwd"},
		{"dot dot alone", "..", "attachment-1"},
		{"absolute unix", "/etc/cron.d/evil", "evil"},
		{"absolute windows", `C:\Users\jane\Desktop\outage.xlsx`, "outage.xlsx"},
		{"unc path", `\\server\share\x.doc`, "x.doc"},
		{"trailing separator", "dir/", "attachment-1"},
		{"control characters", "re\x00po\nrt\x1b.pdf", "report.pdf"},
		{"C1 control", "a\u0085b.txt", "ab.txt"},
		{"bidi override", "invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"windows forbidden", `a<b>c:d"e|f?g*h.txt`, "a_b_c_d_e_f_g_h.txt"},
		{"trailing dots and spaces", "notes.txt. . ", "notes.txt"},
		{"leading dots", ".bashrc", "bashrc"},
		{"device name", "CON", "_CON"},
		{"device name lower with extension", "nul.txt", "_nul.txt"},
		{"device name with two extensions", "com1.tar.gz", "_com1.tar.gz"},
		{"device name space before extension", "LPT9 .log", "_LPT9 .log"},
		{"superscript port", "COM¹.txt", "_COM¹.txt"},
		{"not a device", "console.log", "console.log"},
		{"not a port", "COM10.txt", "COM10.txt"},
		{"empty", "", "attachment-1"},
		{"only forbidden controls", "\x01\x02", "attachment-1"},
		{"invalid utf-8", "a\xffb.txt", "a_b.txt"},
		{"long keeps extension", long + ".pdf", strings.Repeat("é", 98) + ".pdf"},
		{"long with long extension", "a." + long, "a." + strings.Repeat("é", 99)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SafeName(tt.in, map[string]int{})
			if got != tt.want {
				t.Errorf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSafeNameDuplicates(t *testing.T) {
	used := map[string]int{}
	in := []string{"report.pdf", "report.pdf", "REPORT.PDF", "report (2).pdf", "dir/report.pdf", "", "", "attachment-3", "Makefile", "makefile"}
	want := []string{"report.pdf", "report (2).pdf", "REPORT (3).PDF", "report (2) (2).pdf", "report (4).pdf", "attachment-1", "attachment-2", "attachment-3", "Makefile", "makefile (2)"}
	for i, name := range in {
		if got := SafeName(name, used); got != want[i] {
			t.Errorf("SafeName(%q) #%d = %q, want %q", name, i+1, got, want[i])
		}
	}
}

// FuzzSafeName checks SafeName's promises on any input: a local,
// single-element name of valid UTF-8 without controls, within the length
// cap, never repeated.
func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"report.pdf", "../x", `C:\a\b`, "CON", "a\x00b", "", "...", " . ", "\u202E", strings.Repeat("x", 300) + ".pdf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		used := map[string]int{}
		a := SafeName(name, used)
		b := SafeName(name, used)
		for _, s := range []string{a, b} {
			if !filepath.IsLocal(s) || strings.ContainsAny(s, `/\<>:"|?*`) || s == "." || s == ".." {
				t.Fatalf("SafeName(%q) = %q, not a safe single name", name, s)
			}
			if !utf8.ValidString(s) || len(s) > maxSafeNameBytes+10 {
				t.Fatalf("SafeName(%q) = %q: invalid UTF-8 or %d bytes", name, s, len(s))
			}
			for _, r := range s {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("SafeName(%q) = %q has control character %U", name, s, r)
				}
			}
			if strings.HasSuffix(s, ".") || strings.HasSuffix(s, " ") || isWindowsDevice(s) {
				t.Fatalf("SafeName(%q) = %q: Windows cannot create it", name, s)
			}
		}
		if strings.EqualFold(a, b) {
			t.Fatalf("SafeName(%q) twice = %q and %q, want distinct", name, a, b)
		}
	})
}
