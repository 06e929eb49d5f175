from django import forms

from catalog.models import Entity, Kind
from knowledge.models import Page, PageKind
from portal.forms import ModelMultipleIdsField


class SpaceForm(forms.Form):
    key = forms.SlugField(max_length=60, help_text="Short name used in URLs, e.g. payments.")
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    owner = forms.ModelChoiceField(
        queryset=Entity.objects.filter(kind=Kind.GROUP).order_by("name"),
        required=False,
        help_text="The team whose members edit this space.",
    )
    open_for_edit = forms.BooleanField(required=False, label="Anyone signed in may edit the pages")


class SpaceSettingsForm(SpaceForm):
    key = None


class PageForm(forms.Form):
    title = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=PageKind.choices, initial=PageKind.ARTICLE)
    parent = forms.ModelChoiceField(queryset=Page.objects.none(), required=False, label="Parent page")
    position = forms.IntegerField(
        min_value=0, max_value=100000, required=False, label="Position", help_text="Order among its siblings."
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "class": "editor"}), required=False)
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. database, on-call.")
    entities = ModelMultipleIdsField(
        queryset=Entity.objects.exclude(kind__in=[Kind.USER, Kind.LOCATION]).order_by("kind", "name"),
        required=False,
        label="Linked catalog entities",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    # A number, not a choice of incidents: incidents are another app's; it checks the number on save.
    incident = forms.IntegerField(
        min_value=1,
        required=False,
        label="Incident number (postmortems)",
        help_text="The incident this postmortem is about, e.g. 42 for incident #42.",
    )
    deployment_ref = forms.CharField(
        max_length=200, required=False, label="Deployment (postmortems)", help_text="The deployment that caused it."
    )
    message = forms.CharField(max_length=300, required=False, label="What did you change?")
    base_revision = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, space=None, page=None, **kwargs):
        super().__init__(*args, **kwargs)
        if space is not None:
            qs = Page.objects.filter(space=space).order_by("title")
            if page is not None:
                qs = qs.exclude(pk=page.pk)
            self.fields["parent"].queryset = qs
        if page is not None:
            self.fields["body"].required = False


class ImportForm(forms.Form):
    archive = forms.FileField(required=False, help_text="A zip with mkdocs.yml and its docs folder.")
    directory = forms.CharField(
        required=False, help_text="Or a directory on the server, under a configured import root (Platform Admins)."
    )
    drop_refused = forms.BooleanField(
        required=False,
        label="Import without the settings Bridge refuses",
        help_text="Hooks, YAML tags such as !ENV, and plugins or extensions Bridge cannot use are left out; "
        "the result lists them.",
    )

    def clean(self):
        data = super().clean()
        if not data.get("archive") and not data.get("directory"):
            raise forms.ValidationError("Upload a zip archive or give a server directory.")
        if data.get("archive") and data.get("directory"):
            raise forms.ValidationError("Choose either an archive or a directory, not both.")
        return data
