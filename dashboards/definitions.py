"""What the figures mean, in SQL, shared by the Grafana panels (dashboards/grafana/) and the reports
(dashboards/reports/), so a dashboard and a report over the same days give the same figures. Booking fragments
read ``booking b``; ticket fragments read ``queue_ticket t``."""

from __future__ import annotations

# Bookings that held a room for somebody (as the release report counts them): not cancelled, not a waitlist offer
# nobody took. A released no-show did book the room, so it counts as booked; an accepted offer is a booking like
# any other.
COUNTED = "b.status NOT IN ('held', 'expired', 'withdrawn', 'cancelled')"
# A ticket's wait runs from joining the queue (its appointment time for an appointment) to its call; its service
# from the call to done. Seconds.
WAIT_S = "extract(epoch FROM t.called_at - coalesce(t.appointment_at, t.issued_at))"
SERVICE_S = "extract(epoch FROM t.finished_at - t.called_at)"
# Served inside the estimate: the wait lay in the range printed on the ticket, as `smartcomplex score waits` counts
# it without its tolerance; a ticket issued with no estimate counts neither way.
WITHIN = f"{WAIT_S} BETWEEN t.shown_wait_lo_s AND t.shown_wait_hi_s"
