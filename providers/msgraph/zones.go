package msgraph

import (
	"strings"
	"time"
)

// location resolves a Graph timeZone value: UTC, an IANA name, or a Windows
// name. Unknown names fall back to UTC (see the package comment).
func location(name string) *time.Location {
	switch name {
	case "", "UTC", "Etc/UTC", "tzone://Microsoft/Utc", "Coordinated Universal Time":
		return time.UTC
	}
	if iana := windowsZone(name); iana != "" {
		name = iana
	}
	if strings.EqualFold(name, "Local") {
		// LoadLocation("Local") is the gateway's own zone, not the event's.
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// windowsZone maps a Windows time zone ID to its IANA zone, following the
// "001" (golden) entries of CLDR's windowsZones.xml. It returns "" for
// anything else.
func windowsZone(name string) string {
	switch name {
	case "Dateline Standard Time":
		return "Etc/GMT+12"
	case "UTC-11":
		return "Etc/GMT+11"
	case "Aleutian Standard Time":
		return "America/Adak"
	case "Hawaiian Standard Time":
		return "Pacific/Honolulu"
	case "Marquesas Standard Time":
		return "Pacific/Marquesas"
	case "Alaskan Standard Time":
		return "America/Anchorage"
	case "UTC-09":
		return "Etc/GMT+9"
	case "Pacific Standard Time (Mexico)":
		return "America/Tijuana"
	case "UTC-08":
		return "Etc/GMT+8"
	case "Pacific Standard Time":
		return "America/Los_Angeles"
	case "US Mountain Standard Time":
		return "America/Phoenix"
	case "Mountain Standard Time (Mexico)":
		return "America/Mazatlan"
	case "Mountain Standard Time":
		return "America/Denver"
	case "Yukon Standard Time":
		return "America/Whitehorse"
	case "Central America Standard Time":
		return "America/Guatemala"
	case "Central Standard Time":
		return "America/Chicago"
	case "Easter Island Standard Time":
		return "Pacific/Easter"
	case "Central Standard Time (Mexico)":
		return "America/Mexico_City"
	case "Canada Central Standard Time":
		return "America/Regina"
	case "SA Pacific Standard Time":
		return "America/Bogota"
	case "Eastern Standard Time (Mexico)":
		return "America/Cancun"
	case "Eastern Standard Time":
		return "America/New_York"
	case "Haiti Standard Time":
		return "America/Port-au-Prince"
	case "Cuba Standard Time":
		return "America/Havana"
	case "US Eastern Standard Time":
		return "America/Indiana/Indianapolis"
	case "Turks And Caicos Standard Time":
		return "America/Grand_Turk"
	case "Paraguay Standard Time":
		return "America/Asuncion"
	case "Atlantic Standard Time":
		return "America/Halifax"
	case "Venezuela Standard Time":
		return "America/Caracas"
	case "Central Brazilian Standard Time":
		return "America/Cuiaba"
	case "SA Western Standard Time":
		return "America/La_Paz"
	case "Pacific SA Standard Time":
		return "America/Santiago"
	case "Newfoundland Standard Time":
		return "America/St_Johns"
	case "Tocantins Standard Time":
		return "America/Araguaina"
	case "E. South America Standard Time":
		return "America/Sao_Paulo"
	case "SA Eastern Standard Time":
		return "America/Cayenne"
	case "Argentina Standard Time":
		return "America/Argentina/Buenos_Aires"
	case "Greenland Standard Time":
		return "America/Nuuk"
	case "Montevideo Standard Time":
		return "America/Montevideo"
	case "Magallanes Standard Time":
		return "America/Punta_Arenas"
	case "Saint Pierre Standard Time":
		return "America/Miquelon"
	case "Bahia Standard Time":
		return "America/Bahia"
	case "UTC-02":
		return "Etc/GMT+2"
	case "Azores Standard Time":
		return "Atlantic/Azores"
	case "Cape Verde Standard Time":
		return "Atlantic/Cape_Verde"
	case "GMT Standard Time":
		return "Europe/London"
	case "Greenwich Standard Time":
		return "Atlantic/Reykjavik"
	case "Sao Tome Standard Time":
		return "Africa/Sao_Tome"
	case "Morocco Standard Time":
		return "Africa/Casablanca"
	case "W. Europe Standard Time":
		return "Europe/Berlin"
	case "Central Europe Standard Time":
		return "Europe/Budapest"
	case "Romance Standard Time":
		return "Europe/Paris"
	case "Central European Standard Time":
		return "Europe/Warsaw"
	case "W. Central Africa Standard Time":
		return "Africa/Lagos"
	case "Jordan Standard Time":
		return "Asia/Amman"
	case "GTB Standard Time":
		return "Europe/Bucharest"
	case "Middle East Standard Time":
		return "Asia/Beirut"
	case "Egypt Standard Time":
		return "Africa/Cairo"
	case "E. Europe Standard Time":
		return "Europe/Chisinau"
	case "Syria Standard Time":
		return "Asia/Damascus"
	case "West Bank Standard Time":
		return "Asia/Hebron"
	case "South Africa Standard Time":
		return "Africa/Johannesburg"
	case "FLE Standard Time":
		return "Europe/Kyiv"
	case "Israel Standard Time":
		return "Asia/Jerusalem"
	case "South Sudan Standard Time":
		return "Africa/Juba"
	case "Kaliningrad Standard Time":
		return "Europe/Kaliningrad"
	case "Sudan Standard Time":
		return "Africa/Khartoum"
	case "Libya Standard Time":
		return "Africa/Tripoli"
	case "Namibia Standard Time":
		return "Africa/Windhoek"
	case "Arabic Standard Time":
		return "Asia/Baghdad"
	case "Turkey Standard Time":
		return "Europe/Istanbul"
	case "Arab Standard Time":
		return "Asia/Riyadh"
	case "Belarus Standard Time":
		return "Europe/Minsk"
	case "Russian Standard Time":
		return "Europe/Moscow"
	case "E. Africa Standard Time":
		return "Africa/Nairobi"
	case "Volgograd Standard Time":
		return "Europe/Volgograd"
	case "Iran Standard Time":
		return "Asia/Tehran"
	case "Arabian Standard Time":
		return "Asia/Dubai"
	case "Astrakhan Standard Time":
		return "Europe/Astrakhan"
	case "Azerbaijan Standard Time":
		return "Asia/Baku"
	case "Russia Time Zone 3":
		return "Europe/Samara"
	case "Mauritius Standard Time":
		return "Indian/Mauritius"
	case "Saratov Standard Time":
		return "Europe/Saratov"
	case "Georgian Standard Time":
		return "Asia/Tbilisi"
	case "Caucasus Standard Time":
		return "Asia/Yerevan"
	case "Afghanistan Standard Time":
		return "Asia/Kabul"
	case "West Asia Standard Time":
		return "Asia/Tashkent"
	case "Ekaterinburg Standard Time":
		return "Asia/Yekaterinburg"
	case "Pakistan Standard Time":
		return "Asia/Karachi"
	case "Qyzylorda Standard Time":
		return "Asia/Qyzylorda"
	case "India Standard Time":
		return "Asia/Kolkata"
	case "Sri Lanka Standard Time":
		return "Asia/Colombo"
	case "Nepal Standard Time":
		return "Asia/Kathmandu"
	case "Central Asia Standard Time":
		return "Asia/Almaty"
	case "Bangladesh Standard Time":
		return "Asia/Dhaka"
	case "Omsk Standard Time":
		return "Asia/Omsk"
	case "Myanmar Standard Time":
		return "Asia/Yangon"
	case "SE Asia Standard Time":
		return "Asia/Bangkok"
	case "Altai Standard Time":
		return "Asia/Barnaul"
	case "W. Mongolia Standard Time":
		return "Asia/Hovd"
	case "North Asia Standard Time":
		return "Asia/Krasnoyarsk"
	case "N. Central Asia Standard Time":
		return "Asia/Novosibirsk"
	case "Tomsk Standard Time":
		return "Asia/Tomsk"
	case "China Standard Time":
		return "Asia/Shanghai"
	case "North Asia East Standard Time":
		return "Asia/Irkutsk"
	case "Singapore Standard Time":
		return "Asia/Singapore"
	case "W. Australia Standard Time":
		return "Australia/Perth"
	case "Taipei Standard Time":
		return "Asia/Taipei"
	case "Ulaanbaatar Standard Time":
		return "Asia/Ulaanbaatar"
	case "Aus Central W. Standard Time":
		return "Australia/Eucla"
	case "Transbaikal Standard Time":
		return "Asia/Chita"
	case "Tokyo Standard Time":
		return "Asia/Tokyo"
	case "North Korea Standard Time":
		return "Asia/Pyongyang"
	case "Korea Standard Time":
		return "Asia/Seoul"
	case "Yakutsk Standard Time":
		return "Asia/Yakutsk"
	case "Cen. Australia Standard Time":
		return "Australia/Adelaide"
	case "AUS Central Standard Time":
		return "Australia/Darwin"
	case "E. Australia Standard Time":
		return "Australia/Brisbane"
	case "AUS Eastern Standard Time":
		return "Australia/Sydney"
	case "West Pacific Standard Time":
		return "Pacific/Port_Moresby"
	case "Tasmania Standard Time":
		return "Australia/Hobart"
	case "Vladivostok Standard Time":
		return "Asia/Vladivostok"
	case "Lord Howe Standard Time":
		return "Australia/Lord_Howe"
	case "Bougainville Standard Time":
		return "Pacific/Bougainville"
	case "Russia Time Zone 10":
		return "Asia/Srednekolymsk"
	case "Magadan Standard Time":
		return "Asia/Magadan"
	case "Norfolk Standard Time":
		return "Pacific/Norfolk"
	case "Sakhalin Standard Time":
		return "Asia/Sakhalin"
	case "Central Pacific Standard Time":
		return "Pacific/Guadalcanal"
	case "Russia Time Zone 11":
		return "Asia/Kamchatka"
	case "New Zealand Standard Time":
		return "Pacific/Auckland"
	case "UTC+12":
		return "Etc/GMT-12"
	case "Fiji Standard Time":
		return "Pacific/Fiji"
	case "Chatham Islands Standard Time":
		return "Pacific/Chatham"
	case "UTC+13":
		return "Etc/GMT-13"
	case "Tonga Standard Time":
		return "Pacific/Tongatapu"
	case "Samoa Standard Time":
		return "Pacific/Apia"
	case "Line Islands Standard Time":
		return "Pacific/Kiritimati"
	}
	return ""
}
