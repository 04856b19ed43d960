// Package msgraph is the adapter for Auth0's Microsoft connections,
// "windowslive" (personal Microsoft accounts) and "waad" (Azure AD / Entra
// ID work accounts): it lists the events of the user's default calendar
// through Microsoft Graph's calendarView and refreshes the access token at
// the Microsoft identity platform, which rotates refresh tokens.
//
// Times. The adapter asks Graph for UTC (Prefer: outlook.timezone="UTC")
// but still honours the timeZone Graph returns with every dateTime (which
// carries no offset): "UTC", an IANA name (loaded with time.LoadLocation;
// the package embeds time/tzdata so this works without a system zoneinfo),
// or a Windows name mapped to IANA with the CLDR windowsZones table. A name
// it cannot resolve falls back to UTC.
//
// All-day events become midnight UTC of their first day and of the day
// after their last, as providers.CalendarEvent asks. Outlook reports them
// at midnight of the event's own zone, ignoring the preferred one; a value
// that is not at midnight (a converted one) is rounded to the nearest UTC
// midnight, which is right for every zone within ±12 hours of UTC.
//
// Paging. The page token is Graph's @odata.nextLink without the configured
// base (its path and query after it), joined back to the base and
// requested as it is: Microsoft's paging guide
// (https://learn.microsoft.com/graph/paging) says not to read or rebuild
// its $skip or $skiptoken. It travels in the gateway's signed cursor, which
// so names no upstream host, and the link is checked, when Graph sends it
// and when it comes back, to be the calendarView of the configured Graph
// base.
package msgraph
