package remind

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
)

// ErrPermanent is matched (errors.Is) by a failure that sending again will
// not cure: the receiver refused the request (a 4xx other than 408 and
// 429), or the mail server refused the login or an address (5xx).
// Others are temporary: the loop retries them.
var ErrPermanent = errors.New("refused")

// sendTimeout bounds one attempt on any channel.
const sendTimeout = 30 * time.Second

// poster is what the HTTP channels share: the URL they POST to, a secret,
// and the client.
type poster struct {
	url    ingest.Secret
	client *http.Client
}

// newPoster is a poster to u; client nil is a client with a 30s timeout.
func newPoster(u ingest.Secret, client *http.Client) poster {
	if client == nil {
		client = &http.Client{Timeout: sendTimeout}
	}
	return poster{url: u, client: client}
}

// Webhook POSTs each reminder as JSON (WebhookPayload) to a URL.
type Webhook struct{ poster }

// NewWebhook returns the generic JSON webhook channel; client nil is a
// client with a 30s timeout.
func NewWebhook(u ingest.Secret, client *http.Client) *Webhook {
	return &Webhook{newPoster(u, client)}
}

// Name is "webhook".
func (w *Webhook) Name() string { return "webhook" }

// WebhookPayload is the JSON body the webhook receives.
type WebhookPayload struct {
	Event               string    `json:"event"` // "claim_reminder"
	ID                  string    `json:"id"`    // Message.ID, also the Idempotency-Key header
	ClaimID             int64     `json:"claim_id"`
	TenantID            string    `json:"tenant_id"`
	TenantName          string    `json:"tenant_name"`
	IncidentID          string    `json:"incident_id"`
	Status              string    `json:"status"`
	Deadline            time.Time `json:"deadline"`
	DeadlineProvisional bool      `json:"deadline_provisional"`
	ThresholdDays       int       `json:"threshold_days"`
	Title               string    `json:"title"`
	Text                string    `json:"text"`
	URL                 string    `json:"url,omitempty"`
}

// Send POSTs m; see ErrPermanent for the error's kinds.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	return post(ctx, w.client, w.url, m.ID(), WebhookPayload{
		Event: "claim_reminder", ID: m.ID(), ClaimID: m.ClaimID, TenantID: m.TenantID, TenantName: m.TenantName,
		IncidentID: m.IncidentID, Status: string(m.Status), Deadline: m.Deadline.UTC(), DeadlineProvisional: m.Provisional,
		ThresholdDays: m.Days, Title: m.Title(), Text: m.Text(), URL: m.URL,
	})
}

// Teams posts each reminder to a Microsoft Teams incoming webhook as an
// Adaptive Card, in the message envelope both Workflows webhooks and
// legacy connectors accept.
type Teams struct{ poster }

// NewTeams returns the Teams channel; client nil is a client with a 30s
// timeout.
func NewTeams(u ingest.Secret, client *http.Client) *Teams {
	return &Teams{newPoster(u, client)}
}

// Name is "teams".
func (t *Teams) Name() string { return "teams" }

// Send posts m as a card; see ErrPermanent for the error's kinds.
func (t *Teams) Send(ctx context.Context, m Message) error {
	return post(ctx, t.client, t.url, m.ID(), TeamsCard(m))
}

// TeamsCard is m as Teams takes it: a message with one Adaptive Card
// (schema 1.4) holding the title, the facts and a button to the claim.
func TeamsCard(m Message) map[string]any {
	facts := []map[string]string{
		{"title": "Tenant", "value": m.Tenant()},
		{"title": "Incident", "value": m.IncidentID},
		{"title": "Deadline", "value": m.DeadlineText()},
		{"title": "Time left", "value": m.Left()},
		{"title": "Status", "value": string(m.Status)},
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body": []any{
			map[string]any{"type": "TextBlock", "text": m.Title(), "weight": "Bolder", "size": "Medium", "wrap": true,
				"color": map[bool]string{true: "Attention", false: "Warning"}[m.Days <= 2]},
			map[string]any{"type": "FactSet", "facts": facts},
			map[string]any{"type": "TextBlock", "text": "File it in Partner Center before the deadline, or it expires.", "wrap": true},
		},
	}
	if m.URL != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open the claim", "url": m.URL}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

// post sends body as JSON to u. Its errors never hold the URL, which is
// a secret (Teams' carries a signature).
func post(ctx context.Context, client *http.Client, u ingest.Secret, id string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%w: encode the reminder: %v", ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Reveal(), bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: the webhook URL does not parse; copy it again", ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", id)
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop "Post <url>:"
		}
		return fmt.Errorf("post to %s: %v", req.URL.Host, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("%s answered %s; will try again", req.URL.Host, resp.Status)
	}
	return fmt.Errorf("%w: %s answered %s; check the URL (the webhook may have been removed)", ErrPermanent, req.URL.Host, resp.Status)
}
