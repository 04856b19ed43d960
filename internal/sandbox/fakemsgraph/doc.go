// Package fakemsgraph is an in-memory emulator of the two Microsoft
// endpoints idpgate uses: Microsoft Graph's calendar view of the signed-in
// user (GET /v1.0/me/calendarView, graph.microsoft.com) and the Microsoft
// identity platform's v2.0 token endpoint
// (POST /{tenant}/oauth2/v2.0/token, login.microsoftonline.com), served by
// one http.Handler so the dev sandbox and tests can mount both under one
// base URL.
//
// It follows the documented shapes: the required startDateTime/endDateTime
// window, $top, $orderby, $select, @odata.nextLink paging with an opaque
// $skiptoken only this Server can resolve (or $skip, see Server.UseSkip), dateTimeTimeZone values rendered in the
// zone the Prefer: outlook.timezone header asks for (UTC by default; all-day
// events keep their own zone, as Outlook does), OData error bodies
// {"error":{"code","message","innerError"}}, Retry-After on 429 and 503, and
// a token endpoint whose errors carry AADSTS codes, served at every
// authority (/common, /consumers, /organizations, /{tenant}), which issues
// a new refresh token on every use without revoking the old one (as
// Microsoft does), and binds each refresh token to the application and the
// authority that got it (RegisterApp, BindRefreshToken).
//
// It is test and sandbox code: production packages never import it.
package fakemsgraph
