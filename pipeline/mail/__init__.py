"""Mail in and out: messages in the inbox, fetching, replies, reminders and sending."""
