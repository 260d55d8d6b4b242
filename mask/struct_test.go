package mask

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testAgent struct {
	Name  string `mask:"name"`
	Email string `mask:"email"`
	Ext   int
}

type testPhone string

type testCall struct {
	ID      int64
	Caller  string    `mask:"phone"`
	Callee  *string   `mask:"phone"`
	Alias   testPhone `mask:"phone"`
	Agent   testAgent
	Manager *testAgent
	Others  []testAgent
	ByRole  map[string]*testAgent
	Notes   []string          `mask:"text"`
	Labels  map[string]string `mask:"keep:1:1"`
	Docs    [2]string         `mask:"document"`
	Card    string            `mask:"card"`
	Raw     string            `mask:"none"`
	Plain   string
	Extra   any
	At      time.Time
	private int
}

func newCall() testCall {
	callee := "+44 20 7946 0018"
	return testCall{
		ID:      7,
		Caller:  "+39061234588",
		Callee:  &callee,
		Alias:   "+1 650 253 0000",
		Agent:   testAgent{Name: "Maria Rossi", Email: "maria@example.com", Ext: 12},
		Manager: &testAgent{Name: "Luca Bianchi", Email: "luca@example.com"},
		Others:  []testAgent{{Name: "Anna Verdi", Email: "anna@example.com"}},
		ByRole:  map[string]*testAgent{"lead": {Name: "Paolo Neri", Email: "paolo@example.com"}, "none": nil},
		Notes:   []string{"call back on +39 333 123 4567", "ok"},
		Labels:  map[string]string{"vip": "platinum"},
		Docs:    [2]string{"YA1234567", "C01X00T47"},
		Card:    "4111 1111 1111 1111",
		Raw:     "+39061234588",
		Plain:   "visible",
		Extra:   testAgent{Name: "Gino Gialli", Email: "gino@example.com"},
		At:      time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		private: 42,
	}
}

func assertMaskedCall(t *testing.T, c testCall) {
	t.Helper()
	assert.Equal(t, int64(7), c.ID)
	assert.Equal(t, "+39*******88", c.Caller)
	require.NotNil(t, c.Callee)
	assert.Equal(t, "+44 ** **** **18", *c.Callee)
	assert.Equal(t, testPhone("+1 *** *** **00"), c.Alias)
	assert.Equal(t, testAgent{Name: "M. R.", Email: "m****@example.com", Ext: 12}, c.Agent)
	assert.Equal(t, &testAgent{Name: "L. B.", Email: "l***@example.com"}, c.Manager)
	assert.Equal(t, []testAgent{{Name: "A. V.", Email: "a***@example.com"}}, c.Others)
	assert.Equal(t, map[string]*testAgent{"lead": {Name: "P. N.", Email: "p****@example.com"}, "none": nil}, c.ByRole)
	assert.Equal(t, []string{"call back on +39 *** *** **67", "ok"}, c.Notes)
	assert.Equal(t, map[string]string{"vip": "p******m"}, c.Labels)
	assert.Equal(t, [2]string{"******567", "******T47"}, c.Docs)
	assert.Equal(t, "**** **** **** 1111", c.Card)
	assert.Equal(t, "+39061234588", c.Raw, `mask:"none" passes through`)
	assert.Equal(t, "visible", c.Plain)
	assert.Equal(t, testAgent{Name: "G. G.", Email: "g***@example.com"}, c.Extra, "interface values are masked by their dynamic type")
	assert.Equal(t, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), c.At)
	assert.Equal(t, 42, c.private, "unexported untagged fields are copied")
}

func TestCopyStruct(t *testing.T) {
	orig := newCall()
	got, err := Copy(ForViewer(false), orig)
	require.NoError(t, err)
	assertMaskedCall(t, got)
	assert.Equal(t, newCall(), orig, "the caller's value, and everything it points to, is unchanged")
	assert.NotSame(t, orig.Callee, got.Callee)
	assert.NotSame(t, orig.Manager, got.Manager)
}

func TestCopyReveal(t *testing.T) {
	orig := newCall()
	got, err := Copy(ForViewer(true), orig)
	require.NoError(t, err)
	assert.Equal(t, newCall(), got)
	assert.Same(t, orig.Manager, got.Manager, "a revealing Masker returns the value as it is")
}

func TestValueShapes(t *testing.T) {
	m := ForViewer(false)
	c := newCall()

	v, err := m.Value(&c)
	require.NoError(t, err)
	p, ok := v.(*testCall)
	require.True(t, ok)
	assert.NotSame(t, &c, p)
	assertMaskedCall(t, *p)

	v, err = m.Value([]testCall{c, c})
	require.NoError(t, err)
	s := v.([]testCall)
	require.Len(t, s, 2)
	assertMaskedCall(t, s[0])
	assertMaskedCall(t, s[1])

	v, err = m.Value(map[string]any{"call": c, "n": 3, "list": []any{&c}})
	require.NoError(t, err)
	mp := v.(map[string]any)
	assertMaskedCall(t, mp["call"].(testCall))
	assertMaskedCall(t, *(mp["list"].([]any)[0].(*testCall)))
	assert.Equal(t, 3, mp["n"])

	v, err = m.Value([3]testAgent{{Name: "Anna Verdi"}})
	require.NoError(t, err)
	assert.Equal(t, "A. V.", v.([3]testAgent)[0].Name)

	assert.Equal(t, newCall(), c, "nothing was modified")

	v, err = m.Value(nil)
	assert.NoError(t, err)
	assert.Nil(t, v)
	var nilCall *testCall
	v, err = m.Value(nilCall)
	assert.NoError(t, err)
	assert.Nil(t, v.(*testCall))
}

// Types without tags are returned as they are, without a copy.
func TestValueNothingToMask(t *testing.T) {
	type plain struct {
		A string
		B []int
		C *time.Time
	}
	p := &plain{A: "+39061234588"}
	v, err := ForViewer(false).Value(p)
	require.NoError(t, err)
	assert.Same(t, p, v)
	s, err := Copy(ForViewer(false), "+39061234588")
	require.NoError(t, err)
	assert.Equal(t, "+39061234588", s, "an untagged string is not masked")
}

type testNode struct {
	Phone string `mask:"phone"`
	Next  *testNode
}

func TestRecursiveType(t *testing.T) {
	var head *testNode
	for range 300 { // deeper than cycleDepth: tracking starts, no false cycle
		head = &testNode{Phone: "+39061234588", Next: head}
	}
	got, err := Copy(ForViewer(false), head)
	require.NoError(t, err)
	n := 0
	for p, q := got, head; p != nil; p, q = p.Next, q.Next {
		assert.Equal(t, "+39*******88", p.Phone)
		assert.Equal(t, "+39061234588", q.Phone)
		n++
	}
	assert.Equal(t, 300, n)
}

func TestCycle(t *testing.T) {
	a := &testNode{Phone: "+39061234588"}
	a.Next = &testNode{Phone: "+39061234588", Next: a}
	got, err := Copy(ForViewer(false), a)
	assert.ErrorIs(t, err, ErrCycle)
	assert.Nil(t, got, "no partial copy on error")

	type loop struct {
		Items []any
	}
	l := &loop{}
	l.Items = []any{l, testAgent{Name: "x"}}
	_, err = ForViewer(false).Value(l)
	assert.ErrorIs(t, err, ErrCycle)
}

type embeddedContact struct {
	Phone string `mask:"phone"`
}

type innerContact struct {
	Phone string `mask:"phone"`
	note  string
}

type withEmbedded struct {
	embeddedContact
	innerContact `json:"-"`
	Email        string `mask:"email"`
}

func TestEmbedded(t *testing.T) {
	v := withEmbedded{
		embeddedContact: embeddedContact{Phone: "+39061234588"},
		innerContact:    innerContact{Phone: "+44 20 7946 0018", note: "n"},
		Email:           "john@example.com",
	}
	got, err := Copy(ForViewer(false), v)
	require.NoError(t, err)
	assert.Equal(t, "+39*******88", got.embeddedContact.Phone)
	assert.Equal(t, "+44 ** **** **18", got.innerContact.Phone, "exported fields of an unexported embedded struct are reachable")
	assert.Equal(t, "n", got.innerContact.note)
	assert.Equal(t, "j***@example.com", got.Email)
}

// An unexported interface field is copied as it is: masking cannot reach
// into it (documented on Value).
func TestUnexportedInterfaceCopied(t *testing.T) {
	type holder struct {
		Phone string `mask:"phone"`
		extra any
	}
	got, err := Copy(ForViewer(false), holder{Phone: "+39061234588", extra: "opaque"})
	require.NoError(t, err)
	assert.Equal(t, "+39*******88", got.Phone)
	assert.Equal(t, "opaque", got.extra)
}

type badUnknown struct {
	Phone string `mask:"mobile"`
}
type badInt struct {
	Phone int `mask:"phone"`
}
type badStruct struct {
	Agent testAgent `mask:"name"`
}
type badUnexportedTag struct {
	phone string `mask:"phone"`
}
type badUnexportedType struct {
	agent testAgent
}
type badUnexportedPtr struct {
	*innerContact
}
type badMapKey struct {
	M map[embeddedContact]int
}
type badDeep struct {
	P **********string `mask:"phone"` // deeper than maxLeafDepth
}
type badRecursiveUnexported struct {
	Phone string `mask:"phone"`
	next  *badRecursiveUnexported
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		v     any
		field string
		tag   string
		err   error
	}{
		{badUnknown{}, "Phone", "mobile", ErrUnknownKind},
		{badInt{}, "Phone", "phone", ErrUnsupportedType},
		{badStruct{}, "Agent", "name", ErrUnsupportedType},
		{badUnexportedTag{}, "phone", "phone", ErrUnexportedField},
		{badUnexportedType{}, "agent", "", ErrUnexportedField},
		{badUnexportedPtr{}, "innerContact", "", ErrUnexportedField},
		{badMapKey{}, "", "", ErrMaskedMapKey},
		{badDeep{}, "P", "phone", ErrUnsupportedType},
		{badRecursiveUnexported{}, "next", "", ErrUnexportedField},
		{[]*badUnknown{}, "Phone", "mobile", ErrUnknownKind},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T", tt.v), func(t *testing.T) {
			for _, reveal := range []bool{false, true} {
				v, err := ForViewer(reveal).Value(tt.v)
				assert.Nil(t, v, "nothing returned on error")
				require.ErrorIs(t, err, tt.err, "errors do not depend on the viewer")
				var pe *PlanError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tt.field, pe.Field)
				assert.Equal(t, tt.tag, pe.Tag)
				assert.NotNil(t, pe.Type)
			}
			assert.ErrorIs(t, ValidateType(reflect.TypeOf(tt.v)), tt.err)
		})
	}
	// Found at run time through an interface.
	_, err := ForViewer(false).Value(map[string]any{"x": badUnknown{Phone: "+39061234588"}})
	assert.ErrorIs(t, err, ErrUnknownKind)
	// Copy returns the zero value, not the input.
	got, err := Copy(ForViewer(false), badUnknown{Phone: "+39061234588"})
	assert.Error(t, err)
	assert.Empty(t, got.Phone)
	assert.NoError(t, ValidateType(reflect.TypeFor[testCall]()))
	assert.NoError(t, ValidateType(nil))
}

// Plans are built and read concurrently; run with -race.
func TestConcurrentPlans(t *testing.T) {
	type a struct {
		P string `mask:"phone"`
	}
	type b struct {
		A []a
		M map[string]*a
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			m := ForViewer(i%2 == 1)
			for range 50 {
				got, err := Copy(m, b{A: []a{{P: "+39061234588"}}, M: map[string]*a{"k": {P: "+39061234588"}}})
				assert.NoError(t, err)
				want := "+39*******88"
				if m.Reveals() {
					want = "+39061234588"
				}
				assert.Equal(t, want, got.A[0].P)
				assert.Equal(t, want, got.M["k"].P)
				_, err = Copy(m, newCall())
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
}

// A "none" tag says the field itself is not personal data; it does not hide
// the tagged fields inside a struct, pointer, slice, map or interface.
func TestNoneTagSearchesInside(t *testing.T) {
	type holder struct {
		Agent  testAgent             `mask:"none"`
		Ptr    *testAgent            `mask:"none"`
		List   []testAgent           `mask:"none"`
		ByRole map[string]*testAgent `mask:"none"`
		Extra  any                   `mask:"none"`
		Raw    string                `mask:"none"`
	}
	a := testAgent{Name: "Maria Rossi", Email: "maria@example.com"}
	want := testAgent{Name: "M. R.", Email: "m****@example.com"}
	got, err := Copy(ForViewer(false), holder{Agent: a, Ptr: &a, List: []testAgent{a},
		ByRole: map[string]*testAgent{"lead": &a}, Extra: a, Raw: "+39061234588"})
	require.NoError(t, err)
	assert.Equal(t, want, got.Agent)
	assert.Equal(t, &want, got.Ptr)
	assert.Equal(t, []testAgent{want}, got.List)
	assert.Equal(t, map[string]*testAgent{"lead": &want}, got.ByRole)
	assert.Equal(t, want, got.Extra)
	assert.Equal(t, "+39061234588", got.Raw, "a none string is copied as it is")
	assert.Equal(t, "Maria Rossi", a.Name, "the original is unchanged")

	type unexportedNone struct {
		agent testAgent `mask:"none"`
	}
	assert.ErrorIs(t, ValidateType(reflect.TypeFor[unexportedNone]()), ErrUnexportedField)
}

type keyHolder struct {
	K any
}

// Map keys are never masked, so a key whose dynamic value holds tagged data
// is refused at run time, as a key type with tagged fields is refused
// statically.
func TestMapKeyDynamic(t *testing.T) {
	m := ForViewer(false)
	c := embeddedContact{Phone: "+390612345588"}
	tests := []struct {
		name string
		v    any
	}{
		{"map[any]int", map[any]int{c: 1}},
		{"pointer key", map[any]int{&c: 1}},
		{"tagged map values too", map[any]testAgent{c: {Name: "Maria Rossi"}}},
		{"in an interface field", struct{ X any }{map[any]int{"a": 1, c: 2}}},
		{"struct key with an any field", map[keyHolder]int{{K: c}: 1}},
		{"array key", map[[2]any]int{{1, c}: 1}},
		{"tagged leaf map", struct {
			M map[any]string `mask:"phone"`
		}{map[any]string{c: "+390612345588"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := m.Value(tt.v)
			assert.ErrorIs(t, err, ErrMaskedMapKey)
			var pe *PlanError
			assert.ErrorAs(t, err, &pe)
			assert.Nil(t, v)
		})
	}
	// Keys without tagged data are fine, and are copied as they are.
	v, err := m.Value(map[any]any{"k": c, 3: "x", keyHolder{K: "y"}: nil})
	require.NoError(t, err)
	assert.Equal(t, map[any]any{"k": embeddedContact{Phone: "+39********88"}, 3: "x", keyHolder{K: "y"}: nil}, v)
	plain := map[any]int{"a": 1}
	v, err = m.Value(plain)
	require.NoError(t, err)
	assert.Equal(t, plain, v)
	// A revealing Masker returns the value as it is.
	v, err = ForViewer(true).Value(map[any]int{c: 1})
	require.NoError(t, err)
	assert.Equal(t, map[any]int{c: 1}, v)
}

type dagNode struct {
	Phone string `mask:"phone"`
	L, R  *dagNode
}

// Shared references are copied once, so data with shared pointers costs
// time linear in its size (2^100 paths here) and the copy keeps the
// sharing; cycles are still reported.
func TestSharedReferences(t *testing.T) {
	const depth = 100 // deeper than cycleDepth
	var n *dagNode
	for range depth {
		n = &dagNode{Phone: "+39061234588", L: n, R: n}
	}
	got, err := Copy(ForViewer(false), n)
	require.NoError(t, err)
	seen := map[*dagNode]bool{}
	var walk func(*dagNode)
	walk = func(p *dagNode) {
		if p == nil || seen[p] {
			return
		}
		seen[p] = true
		assert.Equal(t, "+39*******88", p.Phone)
		assert.Same(t, p.L, p.R, "the copy shares what the original shares")
		walk(p.L)
		walk(p.R)
	}
	walk(got)
	assert.Len(t, seen, depth, "one copy per original node")
	assert.Equal(t, "+39061234588", n.Phone)
	assert.NotSame(t, n, got)

	// Records sharing a pointer, a slice and a map.
	a := &testAgent{Name: "Maria Rossi"}
	notes := []string{"+39061234588"}
	labels := map[string]string{"k": "platinum"}
	calls, err := Copy(ForViewer(false), []testCall{
		{Manager: a, Notes: notes, Labels: labels},
		{Manager: a, Notes: notes, Labels: labels},
	})
	require.NoError(t, err)
	assert.Same(t, calls[0].Manager, calls[1].Manager)
	assert.Equal(t, "M. R.", calls[0].Manager.Name)
	assert.Same(t, &calls[0].Notes[0], &calls[1].Notes[0])
	assert.Equal(t, "+39*******88", calls[0].Notes[0])
	assert.Equal(t, reflect.ValueOf(calls[0].Labels).Pointer(), reflect.ValueOf(calls[1].Labels).Pointer())

	// The same pointer under different tags gets a copy per tag.
	type twoTags struct {
		A *string `mask:"keep:1:1"`
		B *string `mask:"full"`
	}
	s := "abcdefgh"
	tt, err := Copy(ForViewer(false), twoTags{A: &s, B: &s})
	require.NoError(t, err)
	assert.Equal(t, "a******h", *tt.A)
	assert.Equal(t, "********", *tt.B)

	// A shared node that also closes a cycle.
	var c *dagNode
	for range depth {
		c = &dagNode{Phone: "+39061234588", L: c, R: c}
	}
	c.L.L.R = c
	_, err = Copy(ForViewer(false), c)
	assert.ErrorIs(t, err, ErrCycle)
}
