package audit

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

var (
	testTenant = uuid.MustParse("0190a0b1-0000-7000-8000-0000000000aa")
	testNow    = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
)

// eventText is every text of e joined, to search it for a secret.
func eventText(e *Event) string {
	var b strings.Builder
	for _, s := range []string{string(e.Kind), e.Action, e.Actor.Role, e.Actor.UserAgent, e.Target.Type, e.Target.ID,
		e.Target.Name, string(e.Outcome), e.Reason} {
		b.WriteString(s + "\n")
	}
	for _, c := range e.Changes {
		b.WriteString(c.Field + "\n" + c.Old + "\n" + c.New + "\n")
	}
	for k, v := range e.Details {
		b.WriteString(k + "\n" + v + "\n")
	}
	return b.String()
}
