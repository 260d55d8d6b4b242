package mask_test

import (
	"errors"
	"fmt"
	"github.com/callshield/callshield/mask/national"
	"os"
	"reflect"

	"github.com/callshield/callshield/mask"
)

// Call is a host type: its tags say which fields are personal data.
type Call struct {
	ID     int64
	Caller string   `mask:"phone"`
	Agent  *Agent   // searched for tags too
	Notes  []string `mask:"text"`
}

type Agent struct {
	Name  string `mask:"name"`
	Email string `mask:"email"`
}

// canSeeMaskedFields stands in for the host's policy decision, e.g.
// policy.Check(subject, access.SeeMaskedFields, project). The mask package
// takes the answer as a bool and does not depend on the access package.
func canSeeMaskedFields(role string) bool { return role == "supervisor" }

// The viewer's right decides: without "see masked fields" values are
// masked, with it they pass through.
func Example() {
	call := Call{ID: 1, Caller: "+39061234588", Agent: &Agent{Name: "Maria Rossi", Email: "maria@example.com"}}
	for _, role := range []string{"agent", "supervisor"} {
		m := mask.ForViewer(canSeeMaskedFields(role))
		b, err := m.JSON(call)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s\n", role, b)
	}
	// Output:
	// agent: {"ID":1,"Caller":"+39*******88","Agent":{"Name":"M. R.","Email":"m****@example.com"},"Notes":null}
	// supervisor: {"ID":1,"Caller":"+39061234588","Agent":{"Name":"Maria Rossi","Email":"maria@example.com"},"Notes":null}
}

// Build one Masker with the tenant's options at start-up, then pick the
// variant for each request; ForViewer does not allocate.
func ExampleMasker_ForViewer() {
	base := mask.MustNew(mask.Options{DefaultRegion: "IT", National: national.Parser{}})

	m := base.ForViewer(canSeeMaskedFields("agent"))
	fmt.Println(m.Phone("06 1234 5588"))
	m = base.ForViewer(canSeeMaskedFields("supervisor"))
	fmt.Println(m.Phone("06 1234 5588"))
	// Output:
	// +39********88
	// 06 1234 5588
}

func ExampleMasker_Phone() {
	m := mask.ForViewer(false)
	fmt.Println(m.Phone("+39061234588"))
	fmt.Println(m.Phone("+39 06 1234 5588"))
	fmt.Println(m.Phone("0039 (06) 1234-5588"))
	fmt.Println(m.Phone("+1 268 555 0123 ext. 45")) // NANP: the calling code is 1
	fmt.Println(m.Phone("+380 44 123 4567"))
	fmt.Println(m.Phone("06 1234 5588")) // national, no default region
	fmt.Println(m.Phone("+683 4002"))    // too short to show the last digits
	fmt.Println(m.Phone("1-800-FLOWERS"))
	// Output:
	// +39*******88
	// +39 ** **** **88
	// 0039 (**) ****-**88
	// +1 *** *** **23 ext. **
	// +380 ** *** **67
	// ** **** **88
	// +683 ****
	// *************
}

func ExampleNew() {
	m, err := mask.New(mask.Options{
		FixedWidth:    true, // do not reveal the length
		PhoneKeepLast: 3,
		CardKeepFirst: 6,
		DefaultRegion: "GB", National: national.Parser{},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Phone("020 7946 0018"))
	fmt.Println(m.Card("4111 1111 1111 1111"))
	fmt.Println(m.Email("jane.doe@example.com"))

	_, err = mask.New(mask.Options{CardKeepFirst: 8})
	fmt.Println(err, errors.Is(err, mask.ErrInvalidOptions))
	// Output:
	// +44****018
	// 411111****1111
	// j****@example.com
	// mask: invalid Options.CardKeepFirst: at most 6 allowed true
}

func ExampleMasker_Email() {
	m := mask.ForViewer(false)
	fmt.Println(m.Email("john@example.com"))
	fmt.Println(m.Email("jo@example.com"))
	// Output:
	// j***@example.com
	// **@example.com
}

func ExampleMasker_Card() {
	fmt.Println(mask.ForViewer(false).Card("4111 1111 1111 1111"))
	fmt.Println(mask.MustNew(mask.Options{CardKeepFirst: 6}).Card("4111-1111-1111-1111"))
	// Output:
	// **** **** **** 1111
	// 4111-11**-****-1111
}

func ExampleMasker_IBAN() {
	fmt.Println(mask.ForViewer(false).IBAN("IT60 X054 2811 1010 0000 0123 456"))
	// Output:
	// IT** **** **** **** **** ***3 456
}

func ExampleMasker_Document() {
	fmt.Println(mask.ForViewer(false).Document("YA1234567"))
	// Output:
	// ******567
}

func ExampleMasker_Name() {
	fmt.Println(mask.ForViewer(false).Name("Maria Grazia Rossi"))
	// Output:
	// M. G. R.
}

func ExampleMasker_Keep() {
	m := mask.ForViewer(false)
	fmt.Println(m.Keep("ACME-ORDER-9921", 2, 2))
	fmt.Println(m.Mask(mask.Keep(2, 2), "ACME-ORDER-9921")) // the same, as a Kind
	// Output:
	// AC***********21
	// AC***********21
}

func ExampleMasker_Scrub() {
	note := "Call back on +39 06 1234 5588 or mail mario.rossi@example.com; card 4111 1111 1111 1111."
	fmt.Println(mask.ForViewer(false).Scrub(note))
	// Output:
	// Call back on +39 ** **** **88 or mail m**********@example.com; card **** **** **** 1111.
}

// Copy returns a masked copy; the caller's value is not modified.
func ExampleCopy() {
	calls := []Call{{
		ID:     7,
		Caller: "+44 20 7946 0018",
		Agent:  &Agent{Name: "Luca Bianchi", Email: "luca@example.com"},
		Notes:  []string{"prefers e-mail: l.b@example.org"},
	}}
	masked, err := mask.Copy(mask.ForViewer(false), calls)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(masked[0].Caller, masked[0].Agent.Name, masked[0].Agent.Email, masked[0].Notes[0])
	fmt.Println(calls[0].Caller, calls[0].Agent.Name)
	// Output:
	// +44 ** **** **18 L. B. l***@example.com prefers e-mail: l**@example.org
	// +44 20 7946 0018 Luca Bianchi
}

// A tag naming an unknown kind is an error when the type is first used, for
// every viewer; check the host's types at start-up or in a test.
func ExampleValidateType() {
	type Contact struct {
		Mobile string `mask:"mobile"`
	}
	err := mask.ValidateType(reflect.TypeFor[Contact]())
	var pe *mask.PlanError
	fmt.Println(errors.Is(err, mask.ErrUnknownKind), errors.As(err, &pe) && pe.Field == "Mobile")
	fmt.Println(err)
	// Output:
	// true true
	// mask: type mask_test.Contact field Mobile (tag "mobile"): unknown kind "mobile"
}

func ExampleNewCSVWriter() {
	w := mask.NewCSVWriter(os.Stdout, mask.ForViewer(false), []mask.Kind{mask.None, mask.Phone, mask.Email})
	_ = w.WriteHeader([]string{"id", "caller", "email"})
	_ = w.Write([]string{"1", "+39061234588", "john@example.com"})
	w.Flush()
	if err := w.Error(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// id,caller,email
	// 1,'+39*******88,j***@example.com
}

func ExampleWriteCSV() {
	type Row struct {
		ID     int
		Caller string `csv:"caller" mask:"phone"`
		Agent  string `csv:"agent" mask:"name"`
		Notes  string `csv:"-"`
	}
	rows := []Row{{1, "+1 650 253 0000", "Maria Rossi", "internal"}}
	if err := mask.WriteCSV(os.Stdout, mask.ForViewer(false), rows); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ID,caller,agent
	// 1,'+1 *** *** **00,M. R.
}
