"""The conversation becomes a tree: each message gets its parent and the conversation its shown branch.

Existing conversations are a line: each message's parent is the one before it, all are shown, and the
last is the shown leaf. Two UPDATEs with subqueries, however many messages there are.
"""
import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def link_lines(apps, schema_editor):
    Conversation = apps.get_model("chat", "Conversation")
    Message = apps.get_model("chat", "Message")
    before = Message.objects.filter(conversation=OuterRef("conversation"), seq__lt=OuterRef("seq")).order_by("-seq")
    Message.objects.update(parent=Subquery(before.values("pk")[:1]))
    last = Message.objects.filter(conversation=OuterRef("pk")).order_by("-seq")
    Conversation.objects.update(shown_leaf=Subquery(last.values("pk")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0007_message_search_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='conversation',
            name='shown_leaf',
            field=models.ForeignKey(blank=True, help_text='The last message of the shown branch; every message on the path to it has `shown` set.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='chat.message'),
        ),
        migrations.AddField(
            model_name='message',
            name='parent',
            field=models.ForeignKey(blank=True, help_text='The message this one follows; null for a first message.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='children', to='chat.message'),
        ),
        migrations.AddField(
            model_name='message',
            name='shown',
            field=models.BooleanField(default=True, help_text='On the branch the conversation shows (the path to its shown_leaf).'),
        ),
        migrations.RunPython(link_lines, migrations.RunPython.noop),
    ]
